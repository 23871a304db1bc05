// Resending a broadcast to its uncovered villages, from the board and from the broadcast's page.
import { t } from '../i18n.js';
import { api, showError } from './api.js';
import { openDialog } from './dialog.js';
import { $, html } from './html.js';
import { onLeave } from './state.js';

/**
 * Resends a broadcast to its uncovered villages as a new broadcast and opens it. Levels I and II
 * ask first, like sending one; the Idempotency-Key makes a second press after no answer harmless.
 */
const resendKeys = new Map();
export async function resendUncovered(b, villages, whereError, button) {
  // One key per broadcast for as long as the page stays: a second press is the same request.
  if (!resendKeys.has(b.id)) {
    resendKeys.set(
      b.id,
      Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) =>
        x.toString(16).padStart(2, '0'),
      ).join(''),
    );
    onLeave(() => resendKeys.delete(b.id));
  }
  const key = resendKeys.get(b.id);
  const go = async () => {
    if (button) button.disabled = true;
    try {
      const made = await api(`/api/broadcasts/${b.id}/resend`, {
        method: 'POST',
        body: {},
        headers: { 'Idempotency-Key': key },
      });
      location.hash = `#/broadcasts/${made.id}`;
    } catch (err) {
      if (button) button.disabled = false;
      showError(err, whereError);
    }
  };
  if (b.level !== 'I' && b.level !== 'II') return go();
  const dialog = openDialog(
    html`<div class="card">
      <h2>${t('resend.confirmTitle')}</h2>
      <p>${t('resend.confirmText', { villages, level: t(`level.${b.level}`), title: b.title })}</p>
      <div class="toolbar">
        <button type="button" class="danger" id="resend-go">${t('resend.confirmGo')}</button>
        <button type="button" id="resend-back" data-close autofocus>${t('common.back')}</button>
      </div>
    </div>`,
    { id: 'resend-confirm', label: t('resend.confirmTitle') },
  );
  $('#resend-go', dialog).addEventListener('click', () => {
    dialog.close();
    void go();
  });
}
