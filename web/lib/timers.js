// Rate limits for redraws and server questions; a view's timers stop when it is left.
import { onLeave } from './state.js';

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
/** Runs `fn` at most once per `ms`, and once more after the last call; stopped when the view is left. */
export function throttle(fn, ms) {
  let last = 0;
  let timer;
  onLeave(() => clearTimeout(timer));
  return () => {
    const wait = last + ms - Date.now();
    clearTimeout(timer);
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else {
      timer = setTimeout(() => {
        last = Date.now();
        fn();
      }, wait);
    }
  };
}
/**
 * Runs `fn` every `ms` while the view is open (skipped while the tab is hidden); stopped when the
 * view is left. For what the server sends no live event about.
 */
export function every(fn, ms) {
  const timer = setInterval(() => {
    if (!document.hidden) fn();
  }, ms);
  onLeave(() => clearInterval(timer));
}
