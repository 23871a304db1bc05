// Signing in: a person with a username and password (a session cookie), or, as a second way for
// scripts and the first start, an API token.
import { api, errorText } from '../lib/api.js';
import { inputLine } from '../lib/forms.js';
import { $, html, show } from '../lib/html.js';
import { watchApprovals } from '../lib/approvals.js';
import { live } from '../lib/live.js';
import { notice, session, sessionFrom } from '../lib/state.js';
import { t } from '../i18n.js';

/** What a signed-in page keeps running: the live stream and the approvals count. */
export function startSignedIn() {
  void live.start();
  void watchApprovals();
}

/** Where a fresh session goes: a one-time password must be replaced before anything else. */
export function enter(s) {
  session.set(s);
  if (s.mustChangePassword) {
    location.hash = '#/password';
    return;
  }
  startSignedIn();
  location.hash = '#/';
}

export function loginView() {
  const why = notice.take();
  show(
    html`<section class="card" style="max-width: 28rem; margin: 2rem auto">
        <h1>${t('login.title')}</h1>
        ${why === 'expired' ? html`<p class="warn" id="login-notice" role="status">${t('login.expired')}</p>` : ''}
        <form id="login-password">
          ${inputLine(t('login.username'), 'username', {
            autocomplete: 'username',
            extra: html`autocapitalize="none"`,
            wide: true,
          })}
          ${inputLine(t('login.password'), 'password', {
            type: 'password',
            autocomplete: 'current-password',
            wide: true,
          })}
          <p class="error" id="password-error" role="alert"></p>
          <button class="primary" type="submit" id="password-submit">${t('login.submit')}</button>
        </form>
      </section>
      <section class="card" style="max-width: 28rem; margin: 1rem auto">
        <h2>${t('login.withToken')}</h2>
        <form id="login">
          ${inputLine(t('login.token'), 'token', {
            type: 'password',
            autocomplete: 'off',
            wide: true,
          })}
          <p class="muted">${t('login.hint')}</p>
          <p class="error" id="login-error" role="alert"></p>
          <button type="submit">${t('login.submit')}</button>
        </form>
      </section>`,
  );
  $('#login-password').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('#password-submit');
    button.disabled = true;
    try {
      const dto = await api('/api/session', {
        method: 'POST',
        body: { username: $('#username').value.trim(), password: $('#password').value },
        // Not signed in yet: a 401 is a wrong password, not an ended session.
        token: '',
      });
      enter(sessionFrom(dto));
    } catch (err) {
      $('#password-error').textContent =
        err.status === 401 ? t('login.badPassword') : errorText(err);
      button.disabled = false;
    }
  });
  $('#login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('#token').value.trim();
    try {
      const me = await api('/api/me', { token });
      enter({ via: 'token', token, name: me.name, role: me.role, towns: me.towns ?? null });
    } catch (err) {
      $('#login-error').textContent = err.status === 401 ? t('login.bad') : errorText(err);
    }
  });
  $('#username').focus();
}

/** A session the cookie still holds (a reload, a new tab): the server says who it is. */
export async function resumeSession() {
  if (session.get()) return;
  const res = await fetch('/api/session', { credentials: 'same-origin' }).catch(() => null);
  if (res?.ok) session.set(sessionFrom(await res.json()));
}
