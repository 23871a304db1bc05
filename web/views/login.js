// Signing in with an API token.
import { api, errorText } from '../lib/api.js';
import { $, html, show } from '../lib/html.js';
import { live } from '../lib/live.js';
import { session } from '../lib/state.js';
import { t } from '../i18n.js';

export function loginView() {
  show(
    html`<section class="card" style="max-width: 28rem; margin: 2rem auto">
      <h1>${t('login.title')}</h1>
      <form id="login">
        <p>
          <label
            >${t('login.token')}<br /><input
              id="token"
              type="password"
              autocomplete="off"
              required
              style="width: 100%"
          /></label>
        </p>
        <p class="muted">${t('login.hint')}</p>
        <p class="error" id="login-error" role="alert"></p>
        <button class="primary" type="submit">${t('login.submit')}</button>
      </form>
    </section>`,
  );
  $('#login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('#token').value.trim();
    try {
      const me = await api('/api/me', { token });
      session.set({ token, name: me.name, role: me.role });
      void live.start();
      location.hash = '#/';
    } catch (err) {
      $('#login-error').textContent = err.status === 401 ? t('login.bad') : errorText(err);
    }
  });
  $('#token').focus();
}
