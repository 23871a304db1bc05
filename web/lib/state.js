// What the dashboard holds between calls, in one place: the session, the current view's
// generation and what to undo when it is left. Views import it; nothing keeps a copy.

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem('dalaba.session') ?? 'null');
    } catch {
      return null;
    }
  },
  set(s) {
    sessionStorage.setItem('dalaba.session', JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem('dalaba.session');
  },
};
export const canOperate = () => ['operator', 'admin'].includes(session.get()?.role);

const cleanup = [];
export function onLeave(fn) {
  cleanup.push(fn);
}
/** Bumped on every navigation: work started for an earlier view must not draw over this one. */
export let generation = 0;
export function stillHere() {
  const mine = generation;
  return () => mine === generation;
}
/** Leaves the current view: later work of the old one sees it is gone, and its cleanups run. */
export function enterView() {
  generation++;
  for (const fn of cleanup.splice(0)) fn();
}
