// The staff dashboard: plain ES modules, no build step. Every figure comes from the API; the
// token lives in sessionStorage (never in a URL) and goes out in the Authorization header.
// This file is the entry: the header, the router and the start; lib/ holds what views share,
// views/ one module per page.
import { lang, setLang, t } from './i18n.js';
import { errorText } from './lib/api.js';
import { $, html, piece, show } from './lib/html.js';
import { live, signOut } from './lib/live.js';
import { canOperate, enterView, session } from './lib/state.js';
import { boardView } from './views/board.js';
import { broadcastView } from './views/broadcast.js';
import { broadcastsView } from './views/broadcasts.js';
import { loginView } from './views/login.js';
import { newBroadcastView } from './views/new-broadcast.js';
import { reportsView } from './views/reports.js';
import { scheduleFormView, schedulesView } from './views/schedules.js';
import { villageView } from './views/village.js';

function renderChrome() {
  const s = session.get();
  const hash = location.hash || '#/';
  const links = [
    ['#/', 'nav.board'],
    ['#/broadcasts', 'nav.broadcasts'],
    ...(canOperate() ? [['#/new', 'nav.new']] : []),
    ['#/schedules', 'nav.schedules'],
    ['#/reports', 'nav.reports'],
  ];
  $('#nav').innerHTML = s
    ? piece(
        links.map(
          ([href, key]) =>
            html`<a
              href="${href}"
              class="${(href === '#/' ? hash === '#/' || hash.startsWith('#/village') : hash.startsWith(href)) ? 'active' : ''}"
              data-nav="${key}"
              >${t(key)}</a
            >`,
        ),
      )
    : '';
  $('#who').textContent = s ? `${s.name} · ${t(`role.${s.role}`)}` : '';
  $('#lang').textContent = t('nav.lang');
  $('#signout').textContent = t('nav.signout');
  $('#signout').hidden = !s;
}

async function route() {
  enterView();
  renderChrome();
  const hash = location.hash || '#/';
  if (!session.get() && hash !== '#/login') {
    location.hash = '#/login';
    return;
  }
  const parts = hash.slice(2).split('/');
  // A new page starts at its top (after sending, the broadcast's page, not where the form was).
  window.scrollTo(0, 0);
  try {
    if (hash === '#/login') return loginView();
    if (parts[0] === '') return await boardView();
    if (parts[0] === 'village') return await villageView(parts[1]);
    if (parts[0] === 'broadcasts' && parts[1]) return await broadcastView(parts[1]);
    if (parts[0] === 'broadcasts') return await broadcastsView();
    if (parts[0] === 'new') return await newBroadcastView();
    if (parts[0] === 'schedules' && parts[1]) return await scheduleFormView(parts[1]);
    if (parts[0] === 'schedules') return await schedulesView();
    if (parts[0] === 'reports') return await reportsView();
    location.hash = '#/';
  } catch (err) {
    show(html`<p class="error" role="alert">${t('common.error')}${errorText(err)}</p>`);
  }
}

// ---- start ----

setLang(lang());
$('#lang').addEventListener('click', () => {
  setLang(lang() === 'zh' ? 'en' : 'zh');
  void route();
});
$('#signout').addEventListener('click', signOut);
window.addEventListener('hashchange', () => void route());
if (session.get()) void live.start();
void route();
