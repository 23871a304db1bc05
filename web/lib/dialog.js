// Modal dialogs: one way to open them, so focus and Escape behave the same in every view.
import { $, $$, piece } from './html.js';
import { onLeave } from './state.js';

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
/**
 * Opens a modal dialog (native <dialog>, showModal): focus goes inside (to `[autofocus]` or the
 * first control), Tab and Shift+Tab stay inside, Escape or any `[data-close]` closes it, and
 * focus goes back to what opened it.
 */
export function openDialog(markup, { id, label } = {}) {
  const opener = document.activeElement;
  const dialog = document.createElement('dialog');
  if (id) dialog.id = id;
  if (label) dialog.setAttribute('aria-label', label);
  dialog.innerHTML = piece(markup);
  document.body.append(dialog);
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const items = $$(FOCUSABLE, dialog).filter((el) => el.offsetParent !== null);
    if (!items.length) return;
    const [first, last] = [items[0], items[items.length - 1]];
    const at = document.activeElement;
    if (e.shiftKey && (at === first || !dialog.contains(at))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || !dialog.contains(at))) {
      e.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected) opener.focus();
  });
  for (const b of $$('[data-close]', dialog)) b.addEventListener('click', () => dialog.close());
  onLeave(() => dialog.open && dialog.close());
  dialog.showModal();
  ($('[autofocus]', dialog) ?? $(FOCUSABLE, dialog))?.focus();
  return dialog;
}
