// A person's own account: changing the password, forced after a one-time password (#/password)
// and by choice (#/account).
import { api, errorText } from '../lib/api.js';
import { inputLine } from '../lib/forms.js';
import { $, html, show } from '../lib/html.js';
import { session, sessionFrom } from '../lib/state.js';
import { t } from '../i18n.js';
import { startSignedIn } from './login.js';

export function accountView({ forced = false } = {}) {
  const s = session.get();
  if (s?.via !== 'session') {
    show(
      html`<h1>${t('acct.title')}</h1>
        <p class="muted" id="account-token">${t('acct.token', { name: s?.name ?? '' })}</p>`,
    );
    return;
  }
  show(
    html`<section class="card" style="max-width: 32rem">
      <h1>${forced ? t('acct.forcedTitle') : t('acct.title')}</h1>
      ${forced ? html`<p class="warn" id="must-change" role="status">${t('acct.forced')}</p>` : ''}
      <p class="muted">${s.username ?? ''} · ${t(`role.${s.role}`)}</p>
      <form id="password-form">
        ${inputLine(t('acct.current'), 'current-password', {
          type: 'password',
          autocomplete: 'current-password',
        })}
        ${inputLine(t('acct.new'), 'new-password', {
          type: 'password',
          autocomplete: 'new-password',
          minlength: 10,
        })}
        ${inputLine(t('acct.repeat'), 'new-password2', {
          type: 'password',
          autocomplete: 'new-password',
        })}
        <p class="muted">${t('acct.rules')}</p>
        <p class="error" id="password-change-error" role="alert"></p>
        <p id="password-changed" role="status"></p>
        <button class="primary" type="submit" id="change-password">${t('acct.submit')}</button>
      </form>
    </section>`,
  );
  $('#password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('#password-change-error').textContent = '';
    const newPassword = $('#new-password').value;
    if (newPassword !== $('#new-password2').value) {
      $('#password-change-error').textContent = t('acct.mismatch');
      return;
    }
    try {
      await api('/api/me/password', {
        method: 'POST',
        body: { currentPassword: $('#current-password').value, newPassword },
      });
      // The server may have renewed the session's state (no longer must change): ask it.
      session.set(sessionFrom(await api('/api/session')));
      if (forced || s.mustChangePassword) {
        startSignedIn();
        location.hash = '#/';
        return;
      }
      $('#password-form').reset();
      $('#password-changed').textContent = t('acct.changed');
    } catch (err) {
      $('#password-change-error').textContent =
        err.body?.error === 'BAD_CREDENTIALS' ? t('acct.wrongCurrent') : errorText(err);
    }
  });
  $('#current-password').focus();
}
