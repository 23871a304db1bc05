// The staff dashboard: plain ES modules, no build step. Every figure comes from the API. A person
// signs in with a password (an HttpOnly session cookie); a token, the second way, lives in
// sessionStorage (never in a URL) and goes out in the Authorization header.
// This file is the entry: the header, the router and the start; lib/ holds what views share,
// views/ one module per page.
import { lang, setLang, t } from './i18n.js';
import { errorText } from './lib/api.js';
import { $, html, piece, show } from './lib/html.js';
import { pending } from './lib/approvals.js';
import { signOut } from './lib/live.js';
import { canSend, enterView, isAdmin, isCounty, mayApprove, session } from './lib/state.js';
import { accountView } from './views/account.js';
import { alertIntakeView } from './views/alert-intake.js';
import { alertsView, alertView } from './views/alerts.js';
import { approvalsView, draftView } from './views/approvals.js';
import { boardView } from './views/board.js';
import { broadcastView } from './views/broadcast.js';
import { broadcastsView } from './views/broadcasts.js';
import { loginView, resumeSession, startSignedIn } from './views/login.js';
import { newBroadcastView } from './views/new-broadcast.js';
import { reportsView } from './views/reports.js';
import { scheduleFormView, schedulesView } from './views/schedules.js';
import { staffView } from './views/staff.js';
import { superiorView } from './views/superior.js';
import { villageView } from './views/village.js';

function renderChrome() {
  const s = session.get();
  const hash = location.hash || '#/';
  const links = [
    ['#/', 'nav.board'],
    ['#/broadcasts', 'nav.broadcasts'],
    ...(canSend() ? [['#/new', 'nav.new']] : []),
    ...(mayApprove() ? [['#/approvals', 'nav.approvals']] : []),
    // Alerts are the county's: a town official has neither the inbox nor its API.
    ...(isCounty() ? [['#/alerts', 'nav.alerts']] : []),
    ['#/schedules', 'nav.schedules'],
    ['#/reports', 'nav.reports'],
    ...(isAdmin() ? [['#/staff', 'nav.staff']] : []),
    ...(isAdmin() ? [['#/alert-intake', 'nav.alertIntake']] : []),
    ...(isAdmin() ? [['#/superior', 'nav.superior']] : []),
  ];
  $('#nav').innerHTML = s
    ? piece(
        links.map(
          ([href, key]) =>
            html`<a
              href="${href}"
              class="${(href === '#/' ? hash === '#/' || hash.startsWith('#/village') : hash.startsWith(href)) ? 'active' : ''}"
              data-nav="${key}"
              >${t(key)}${
                key === 'nav.approvals'
                  ? html` <span
                      id="approvals-count"
                      class="count"
                      ${pending.count ? '' : html`hidden`}
                      >${pending.count}</span
                    >`
                  : ''
              }</a
            >`,
        ),
      )
    : '';
  $('#who').innerHTML = s
    ? piece(html`<a href="#/account" id="my-account">${s.name}</a> · ${t(`role.${s.role}`)}`)
    : '';
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
  // A one-time password is replaced before anything else (the server refuses the rest anyway).
  if (session.get()?.mustChangePassword && hash !== '#/password' && hash !== '#/login') {
    location.hash = '#/password';
    return;
  }
  const parts = hash.slice(2).split('/');
  // A new page starts at its top (after sending, the broadcast's page, not where the form was).
  window.scrollTo(0, 0);
  try {
    if (hash === '#/login') return loginView();
    if (hash === '#/password') return accountView({ forced: true });
    if (parts[0] === 'account') return accountView();
    if (parts[0] === 'staff') return await staffView();
    if (parts[0] === 'approvals' && parts[1]) return await draftView(parts[1]);
    if (parts[0] === 'approvals') return await approvalsView();
    if (parts[0] === 'alerts' && parts[1]) return await alertView(parts[1]);
    if (parts[0] === 'alerts') return await alertsView();
    if (parts[0] === 'alert-intake') return await alertIntakeView();
    if (parts[0] === 'superior') return await superiorView();
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
$('#signout').addEventListener('click', () => void signOut());
window.addEventListener('hashchange', () => void route());
// A reload or a new tab: the cookie may still hold a person's session.
await resumeSession();
if (session.get() && !session.get().mustChangePassword) startSignedIn();
void route();
