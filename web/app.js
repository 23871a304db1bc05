// The staff dashboard: plain ES modules, no build step. Every figure comes from the API; the
// token lives in sessionStorage (never in a URL) and goes out in the Authorization header.
import {
  fmtClock,
  fmtDuration,
  fmtPct,
  fmtTime,
  fmtZoned,
  hasText,
  lang,
  setLang,
  t,
} from './i18n.js';

// ---- small helpers ----

const RAW = Symbol('raw');
/** Marks trusted markup so `html` does not escape it. */
const raw = (markup) => ({ [RAW]: markup });
const escape = (v) =>
  String(v).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
function piece(v) {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(piece).join('');
  if (typeof v === 'object' && RAW in v) return v[RAW];
  return escape(v);
}
/** A template tag that escapes every interpolated value unless it is `raw()` or built by `html`. */
function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += piece(v) + strings[i + 1];
  });
  return raw(out);
}
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const view = () => $('#view');
function show(markup) {
  view().innerHTML = piece(markup);
  view().dataset.generation = String(generation);
}

/** An element's identity across redraws: its id, or its `data-key`. */
const keyOf = (n) => (n.nodeType === 1 ? n.id || n.getAttribute('data-key') || null : null);
/** Makes `from` look like `to` by changing only what differs, so nodes the user is on stay. */
function morph(from, to) {
  if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) return from.replaceWith(to);
  if (from.nodeType !== 1) {
    if (from.data !== to.data) from.data = to.data;
    return;
  }
  for (const { name } of [...from.attributes])
    if (!to.hasAttribute(name)) from.removeAttribute(name);
  for (const { name, value } of [...to.attributes])
    if (from.getAttribute(name) !== value) from.setAttribute(name, value);
  morphChildren(from, to);
}
function morphChildren(from, to) {
  const old = [...from.childNodes];
  const byKey = new Map(old.filter(keyOf).map((n) => [keyOf(n), n]));
  const used = new Set();
  let next = 0;
  const pairs = [...to.childNodes].map((n) => {
    const key = keyOf(n);
    let match = null;
    if (key) match = byKey.get(key)?.nodeName === n.nodeName ? byKey.get(key) : null;
    else {
      let j = next;
      while (
        j < old.length &&
        (used.has(old[j]) || keyOf(old[j]) || old[j].nodeName !== n.nodeName)
      )
        j++;
      if (j < old.length) [match, next] = [old[j], j + 1];
    }
    if (match && used.has(match)) match = null;
    if (match) used.add(match);
    return [n, match];
  });
  // What goes is removed first, so what stays is not moved: moving a node blurs it.
  for (const n of old) if (!used.has(n)) n.remove();
  let ref = from.firstChild;
  for (const [n, match] of pairs) {
    if (!match) from.insertBefore(n, ref);
    else {
      if (match === ref) ref = ref.nextSibling;
      else from.insertBefore(match, ref);
      morph(match, n);
    }
  }
}
/**
 * Redraws the view in place: a live update changes what changed and keeps the focused element,
 * the scroll position and anything typed. A view's first draw (after navigating) starts afresh.
 */
function patchView(markup) {
  if (view().dataset.generation !== String(generation)) return show(markup);
  patchInto(view(), markup);
}
/** Redraws one element's contents in place, keeping focus, scroll and anything typed. */
function patchInto(el, markup) {
  const [x, y] = [window.scrollX, window.scrollY];
  const focused = document.activeElement;
  const template = document.createElement('template');
  template.innerHTML = piece(markup);
  morphChildren(el, template.content);
  // A focused node that was redrawn anew (its place removed and added back) is found by its key.
  const key = focused && focused !== document.body && !focused.isConnected && keyOf(focused);
  if (key)
    (focused.id ? document.getElementById(key) : $(`[data-key="${CSS.escape(key)}"]`, el))?.focus({
      preventScroll: true,
    });
  if (window.scrollX !== x || window.scrollY !== y) window.scrollTo(x, y);
}

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
/**
 * Opens a modal dialog (native <dialog>, showModal): focus goes inside (to `[autofocus]` or the
 * first control), Tab and Shift+Tab stay inside, Escape or any `[data-close]` closes it, and
 * focus goes back to what opened it.
 */
function openDialog(markup, { id, label } = {}) {
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
function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
/** Runs `fn` at most once per `ms`, and once more after the last call; stopped when the view is left. */
function throttle(fn, ms) {
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
const LEVELS = ['I', 'II', 'III', 'IV', 'routine', 'test'];
const EMERGENCY = new Set(['I', 'II', 'III', 'IV']);
const DEVICE_TYPES = ['emergency_terminal', 'village_loudspeaker', 'flood_pa', 'speaker_cart'];
/** Below this charge a battery device (a speaker cart) is shown as low: it may not last a broadcast. */
const LOW_BATTERY_PCT = 20;
const IN_PROGRESS = ['sent', 'received', 'downloading', 'ready', 'playing'];

// ---- session and API ----

const session = {
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
const canOperate = () => ['operator', 'admin'].includes(session.get()?.role);

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = 'GET', body, token, raw: wantRaw, headers: extra } = {}) {
  const headers = { Authorization: `Bearer ${token ?? session.get()?.token ?? ''}`, ...extra };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  if (res.status === 401 && !token) {
    signOut();
    throw new ApiError(401, { message: t('login.bad') });
  }
  if (wantRaw && res.ok) return res;
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** Every page of a list endpoint. */
async function all(path) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=500&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return { ...page, items };
  }
}

/** Downloads an authenticated file (CSV) through a blob, keeping the token out of the URL. */
async function download(path) {
  const res = await api(path, { raw: true });
  const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1];
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name ?? 'report.csv';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * What went wrong, in the reader's language: the server's stable error codes and field rules have
 * texts of their own (web/i18n.js, `err.*`); the server's English message is the last resort.
 */
function errorText(err) {
  if (err instanceof ApiError && err.status === 403) return t('common.forbidden');
  if (err instanceof TypeError) return t('err.network');
  const body = err?.body;
  const details = body?.details;
  if (Array.isArray(details) && details.length)
    return details
      .map((d) =>
        hasText(`err.${d.field}.${d.rule}`)
          ? t(`err.${d.field}.${d.rule}`)
          : hasText('err.field')
            ? t('err.field', { field: d.field })
            : (d.message ?? `${d.field}: ${d.rule}`),
      )
      .join('\n');
  if (body?.error && hasText(`err.${body.error}`)) return t(`err.${body.error}`);
  if (body?.error && hasText('err.other')) return t('err.other', { code: body.error });
  return err?.message ?? String(err);
}

function showError(err, where = view()) {
  where.insertAdjacentHTML(
    'afterbegin',
    piece(html`<p class="error" role="alert">${t('common.error')}${errorText(err)}</p>`),
  );
}

// ---- live events: fetch-streamed SSE with the token in a header, reconnecting ----

const live = {
  listeners: new Set(),
  abort: null,
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },
  stop() {
    this.abort?.abort();
    this.abort = null;
  },
  async start() {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    const banner = $('#live-status');
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const res = await fetch('/api/events', {
          headers: { Authorization: `Bearer ${session.get()?.token ?? ''}` },
          signal: abort.signal,
        });
        if (res.status === 401) return signOut();
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        banner.hidden = true;
        attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of frame.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (!data) continue;
            const parsed = JSON.parse(data);
            for (const fn of this.listeners) fn(event, parsed);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        console.warn('live events:', err);
      }
      banner.textContent = t('live.lost');
      banner.hidden = false;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 15_000)));
    }
  },
};

// ---- layout ----

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

function signOut() {
  session.clear();
  live.stop();
  location.hash = '#/login';
}

// ---- views ----

let cleanup = [];
function onLeave(fn) {
  cleanup.push(fn);
}
/** Bumped on every navigation: work started for an earlier view must not draw over this one. */
let generation = 0;
function stillHere() {
  const mine = generation;
  return () => mine === generation;
}

async function route() {
  generation++;
  for (const fn of cleanup.splice(0)) fn();
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

function loginView() {
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

/** A level in its colour (I red, II orange, III yellow, IV blue) and always in words too. */
function levelBadge(level) {
  return html`<span class="badge level-${level}" data-level="${level}"
    >${t(`level.${level}`)}</span
  >`;
}
function statusBadge(status) {
  return html`<span class="badge status-${status}" data-status="${status}"
    >${t(`status.${status}`)}</span
  >`;
}
/** A broadcast's status, and once it ended, what came of it. */
function resultBadges(b) {
  return html`${statusBadge(b.status)}${
    b.outcome && b.status === 'completed'
      ? html` <span class="badge result-${b.outcome}" data-outcome="${b.outcome}"
          >${t(`result.${b.outcome}`)}</span
        >`
      : ''
  }`;
}
/**
 * A device failure reason: the staff message of its code with the device's own text beside it,
 * so the cause reads in Chinese and the exact words stay for the technician.
 */
function failureText(f) {
  return `${t(`failure.${f.code}`)}（${f.reason}）${f.devices > 1 ? ` ×${f.devices}` : ''}`;
}
function failuresLine(failures) {
  return failures?.length
    ? html`<small class="muted failures" data-codes="${failures.map((f) => f.code).join(' ')}"
        >${failures.map(failureText).join('；')}</small
      >`
    : '';
}
function outcomeText(o) {
  if (!o) return t('board.noBroadcast');
  // Called off: that is the whole story, not "uncovered".
  if (o.status === 'cancelled' && o.outcome !== 'covered') return t('status.cancelled');
  return o.reason
    ? `${t(`outcome.${o.outcome}`)} · ${t(`reason.${o.reason}`)}`
    : t(`outcome.${o.outcome}`);
}

// -- village board --

/** The board's "只看异常" switch, kept for the tab so a visit to a village and back keeps it. */
const ONLY_ABNORMAL = 'dalaba.board.onlyAbnormal';

/**
 * 异常 (what staff must act on in an emergency): an enabled device offline (some or all), no
 * device or none enabled, or the village's latest broadcast not covering it (uncovered for a
 * reason other than still being delivered). A broadcast still playing there is not 异常 yet.
 */
function isAbnormal(v) {
  if (v.problem) return true;
  const b = v.latestBroadcast;
  return b?.outcome === 'uncovered' && b.reason !== 'pending';
}

/**
 * Whether a resend would target a village: the server's rule (POST …/resend) on what the client
 * sees, for the count shown beside the button; the server decides the exact set.
 */
function resendable(v, broadcastStatus) {
  if (v.outcome !== 'uncovered') return false;
  if (v.reason === 'pending' || v.reason === 'no_device') return false;
  return (
    v.reason !== 'quiet_hours' || !['scheduled', 'dispatching', 'active'].includes(broadcastStatus)
  );
}

/** The per-town summary row: villages, covered and uncovered by their latest broadcast, devices online. */
function townFigures(villages) {
  const f = { villages: villages.length, covered: 0, uncovered: 0, online: 0, enabled: 0 };
  for (const v of villages) {
    if (v.latestBroadcast?.outcome === 'covered') f.covered++;
    if (v.latestBroadcast?.outcome === 'uncovered') f.uncovered++;
    f.online += v.devicesOnline;
    f.enabled += v.devicesEnabled;
  }
  return f;
}

/**
 * Resends a broadcast to its uncovered villages as a new broadcast and opens it. Levels I and II
 * ask first, like sending one; the Idempotency-Key makes a second press after no answer harmless.
 */
const resendKeys = new Map();
async function resendUncovered(b, villages, whereError, button) {
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

async function boardView() {
  const here = stillHere();
  let board = null;
  show(
    html`<h1>${t('board.title')}</h1>
      <p id="board-summary"></p>
      <div class="toolbar board-tools">
        <label title="${t('board.abnormalHelp')}"
          ><input
            type="checkbox"
            id="only-abnormal"
            ${sessionStorage.getItem(ONLY_ABNORMAL) === '1' ? 'checked' : ''}
          />
          ${t('board.onlyAbnormal')}</label
        >
        <span id="abnormal-count" class="muted"></span>
        <span class="grow"></span>
      </div>
      <div id="board-latest"></div>
      <div class="legend">
        <span><i style="background: var(--ok)"></i>${t('board.legend.ok')}</span>
        <span><i style="background: var(--warn)"></i>${t('board.legend.some')}</span>
        <span><i style="background: var(--bad)"></i>${t('board.legend.all')}</span>
        <span><i style="background: var(--idle)"></i>${t('board.legend.none')}</span>
        <span
          ><i style="background: #eef9f1; border: 1px solid var(--ok)"></i
          >${t('board.legend.covered')}</span
        >
        <span
          ><i style="background: #fdeeee; border: 1px solid var(--bad)"></i
          >${t('board.legend.uncovered')}</span
        >
      </div>
      <div id="board-towns"></div>`,
  );
  const only = $('#only-abnormal');
  // One listener: the button survives in-place redraws, so binding it per redraw would stack.
  let resendTarget = null;
  $('#board-latest').addEventListener('click', (e) => {
    if (!e.target.closest('#resend') || !resendTarget?.toResend) return;
    void resendUncovered(
      resendTarget.latest,
      resendTarget.toResend,
      $('#board-latest'),
      e.target.closest('#resend'),
    );
  });
  // Only the parts that change are redrawn, and focus and scroll are put back: a live update every
  // second must not throw staff out of the switch, a tile or their place on the page.
  const render = () => {
    if (!board) return;
    const onlyAbnormal = only.checked;
    const towns = new Map();
    for (const v of board.items) {
      if (!towns.has(v.townCode))
        towns.set(v.townCode, { code: v.townCode, name: v.townName, villages: [] });
      towns.get(v.townCode).villages.push(v);
    }
    const s = board.summary;
    const abnormal = board.items.filter(isAbnormal).length;
    $('#board-summary').dataset.villages = s.villages;
    $('#board-summary').dataset.online = s.devicesOnline;
    $('#board-summary').innerHTML = piece(
      html`${t('board.summary', { villages: s.villages, online: s.devicesOnline, total: s.devicesTotal, ok: s.villagesOk })}${s.typeMismatches ? html` · <span class="warn-text">${t('board.typeMismatches', { n: s.typeMismatches })}</span>` : ''}`,
    );
    $('#abnormal-count').dataset.count = abnormal;
    $('#abnormal-count').textContent = t('board.abnormalCount', { n: abnormal });

    // The newest broadcast any village has had, with what a resend would reach.
    const latest = board.items
      .map((v) => v.latestBroadcast)
      .filter(Boolean)
      .sort((a, b) => Date.parse(b.startAt) - Date.parse(a.startAt) || (a.id < b.id ? -1 : 1))[0];
    const toResend = latest
      ? board.items.filter(
          (v) =>
            v.latestBroadcast?.id === latest.id && resendable(v.latestBroadcast, latest.status),
        ).length
      : 0;
    patchInto(
      $('#board-latest'),
      latest
        ? html`<div class="card latest" data-id="${latest.id}" data-resendable="${toResend}">
            ${t('board.latest')}:
            <a href="#/broadcasts/${latest.id}">${latest.title}</a> ${levelBadge(latest.level)}
            ${statusBadge(latest.status)}
            <span class="${toResend ? 'error' : 'ok-text'}"
              >${toResend ? t('board.toResend', { n: toResend }) : t('board.nothingToResend')}</span
            >
            ${canOperate() && toResend && latest.status !== 'cancelled' ? html`<button type="button" class="danger" id="resend">${t('board.resend')}</button>` : ''}
          </div>`
        : '',
    );
    resendTarget = { latest, toResend };

    patchInto(
      $('#board-towns'),
      [...towns.values()].map((town) => {
        const f = townFigures(town.villages);
        const shown = onlyAbnormal ? town.villages.filter(isAbnormal) : town.villages;
        return html`<section class="town" data-key="town-${town.code}" data-town="${town.code}">
          <h3>${town.name}</h3>
          <p
            class="town-summary"
            data-villages="${f.villages}"
            data-covered="${f.covered}"
            data-uncovered="${f.uncovered}"
            data-online="${f.online}"
            data-enabled="${f.enabled}"
          >
            ${t('board.townSummary', f)}
          </p>
          ${
            shown.length
              ? html`<div class="tiles">
                  ${shown.map(
                    (v) =>
                      html`<a
                        class="tile"
                        href="#/village/${v.code}"
                        data-key="v-${v.code}"
                        data-code="${v.code}"
                        data-presence="${v.problem ?? 'ok'}"
                        data-outcome="${v.latestBroadcast?.outcome ?? 'none'}"
                        data-abnormal="${isAbnormal(v) ? 'yes' : 'no'}"
                        title="${v.latestBroadcast?.title ?? ''}"
                      >
                        <span class="name">${v.name}</span>
                        <span class="devs"
                          >${v.devicesOnline}/${v.devicesEnabled} ${t('village.online')}</span
                        >
                        <span class="outcome">${outcomeText(v.latestBroadcast)}</span>
                        ${failuresLine(v.latestBroadcast?.failures)}
                        ${v.typeMismatches.length ? html`<span class="type-mismatch" data-count="${v.typeMismatches.length}" title="${v.typeMismatches.map((m) => `${m.deviceId}: ${t(`type.${m.registeredType}`)} → ${t(`type.${m.reportedType}`)}`).join('\n')}">⚠ ${t('board.typeMismatch', { n: v.typeMismatches.length })}</span>` : ''}
                      </a>`,
                  )}
                </div>`
              : html`<p class="muted no-abnormal">${t('board.noAbnormal')}</p>`
          }
        </section>`;
      }),
    );
  };
  only.addEventListener('change', () => {
    sessionStorage.setItem(ONLY_ABNORMAL, only.checked ? '1' : '0');
    render();
  });
  const load = async () => {
    const next = await all('/api/status/villages');
    if (!here()) return;
    board = next;
    render();
  };
  const refresh = throttle(() => load().catch((err) => console.warn(err)), 1000);
  onLeave(live.on((event) => event === 'update' && refresh()));
  await load();
}

// -- one village --

async function villageView(code) {
  const [village, devices, history] = await Promise.all([
    api(`/api/villages/${encodeURIComponent(code)}`),
    all(`/api/devices?village=${encodeURIComponent(code)}`),
    api(`/api/villages/${encodeURIComponent(code)}/coverage?limit=10`),
  ]);
  const details = await Promise.all(
    devices.items.map((d) => api(`/api/devices/${encodeURIComponent(d.id)}`)),
  );
  // Telemetry by its Chinese labels (the keys are the protocol's, section 3.2), with units.
  const reading = {
    signalDbm: (v) => t('telemetry.signalDbm', { v }),
    batteryPct: (v) =>
      v < LOW_BATTERY_PCT
        ? html`<span class="warn-text low-battery">${t('telemetry.batteryLow', { v })}</span>`
        : t('telemetry.batteryPct', { v }),
    temperatureC: (v) => t('telemetry.temperatureC', { v }),
    uptimeS: (v) => t('telemetry.uptimeS', { v: fmtDuration(v * 1000) }),
  };
  const telemetry = (p) =>
    p?.telemetry
      ? Object.entries(p.telemetry)
          // The volume has its own column: the reported one, which an acked command also sets.
          .filter(([k, v]) => k !== 'volume' && v !== null && typeof v !== 'object')
          .map(
            ([k, v]) =>
              html`<span class="reading" data-key="${k}"
                >${reading[k] ? reading[k](v) : `${k} ${v}`}</span
              >`,
          )
          .reduce((out, r, i) => html`${out}${i ? ' · ' : ''}${r}`, '')
      : '—';
  show(
    html`<p><a href="#/">← ${t('nav.board')}</a></p>
      <h1>${village.name} <small class="muted">${village.townName} · ${village.code}</small></h1>
      <p id="village-quiet" class="muted" data-quiet="${village.quietHours ?? ''}">
        ${village.quietHours ? t('village.quiet', { hours: village.quietHours }) : t('village.noQuiet')}
      </p>
      <h2>${t('village.devices')}</h2>
      <div class="scroll">
        <table id="village-devices">
          <tr>
            <th>ID</th>
            <th>${t('detail.col.type')}</th>
            <th>${t('bc.col.status')}</th>
            <th>${t('village.lastSeen')}</th>
            <th class="num">${t('village.volume')}</th>
            <th class="hide-narrow">${t('village.firmware')}</th>
            <th class="hide-narrow">${t('village.telemetry')}</th>
          </tr>
          ${details.map(
            (d) =>
              html`<tr data-device="${d.id}">
                <td>
                  ${d.id}${d.label ? html`<br /><small class="muted">${d.label}</small>` : ''}
                </td>
                <td>
                  ${t(`type.${d.type}`)}${d.typeMismatch ? html`<br /><small class="type-mismatch warn-text">⚠ ${t('village.reportedAs', { type: t(`type.${d.presence.reportedType}`) })}</small>` : ''}
                </td>
                <td>
                  ${!d.enabled ? t('village.disabled') : d.presence?.online ? html`<span class="ok-text">${t('village.online')}</span>` : html`<span class="error">${t('village.offline')}</span>`}
                </td>
                <td>${fmtTime(d.presence?.lastSeenAt)}</td>
                <td class="num volume">${d.presence?.volume ?? '—'}</td>
                <td class="hide-narrow">${d.presence?.firmware ?? '—'}</td>
                <td class="hide-narrow">${telemetry(d.presence)}</td>
              </tr>`,
          )}
        </table>
      </div>
      <h2>${t('village.recent')}</h2>
      ${
        history.length
          ? html`<div class="scroll">
              <table>
                <tr>
                  <th>${t('bc.col.title')}</th>
                  <th>${t('bc.col.level')}</th>
                  <th>${t('bc.col.start')}</th>
                  <th>${t('detail.col.outcome')}</th>
                  <th class="num">${t('detail.col.played')}</th>
                </tr>
                ${history.map(
                  (b) =>
                    html`<tr>
                      <td><a href="#/broadcasts/${b.id}">${b.title}</a></td>
                      <td>${levelBadge(b.level)}</td>
                      <td>${fmtTime(b.startAt)}</td>
                      <td>
                        ${outcomeText(b)}${b.coveredBy === 'manual' ? ` (${t('coveredBy.manual')})` : ''}
                        ${b.failures?.length ? html`<br />${failuresLine(b.failures)}` : ''}
                      </td>
                      <td class="num">${b.played}/${b.devices}</td>
                    </tr>`,
                )}
              </table>
            </div>`
          : html`<p class="muted">${t('board.noBroadcast')}</p>`
      }`,
  );
}

// -- broadcasts --

function progressBar(d) {
  const n = (states) => states.reduce((sum, s) => sum + (d[s] ?? 0), 0);
  const total = Object.values(d).reduce((a, b) => a + b, 0);
  const parts = [
    ['played', n(['played'])],
    ['progress', n(IN_PROGRESS)],
    ['failed', n(['failed', 'rejected'])],
    ['pending', n(['pending'])],
    ['ended', n(['expired', 'cancelled'])],
  ];
  const pct = (x) => (total ? (100 * x) / total : 0);
  return html`<div
      class="bar"
      role="img"
      aria-label="${parts.map(([k, x]) => `${t(`bc.progress.${k === 'progress' ? 'inProgress' : k}`)} ${x}`).join(', ')}"
    >
      ${parts.map(([k, x]) => (x ? html`<span class="${k}" style="width: ${pct(x).toFixed(2)}%"></span>` : ''))}
    </div>
    <small class="muted progress-text" data-played="${parts[0][1]}" data-total="${total}">
      ${t('bc.progress.played')}
      ${parts[0][1]}/${total}${parts[2][1] ? ` · ${t('bc.progress.failed')} ${parts[2][1]}` : ''}${parts[1][1] ? ` · ${t('bc.progress.inProgress')} ${parts[1][1]}` : ''}${parts[3][1] ? ` · ${t('bc.progress.pending')} ${parts[3][1]}` : ''}
    </small>`;
}

function broadcastRow(b) {
  return html`<tr data-id="${b.id}" data-key="b-${b.id}">
    <td><a href="#/broadcasts/${b.id}">${b.title}</a></td>
    <td>${levelBadge(b.level)}</td>
    <td>${resultBadges(b)}</td>
    <td class="hide-narrow">${fmtTime(b.startAt)}</td>
    <td style="min-width: 12rem">${progressBar(b.deliveries)}</td>
  </tr>`;
}

async function broadcastsView() {
  const here = stillHere();
  const load = async () => {
    const page = await api('/api/broadcasts?limit=100');
    if (!here()) return;
    patchView(
      html`<div class="toolbar">
          <h1 class="grow">${t('bc.title')}</h1>
          ${canOperate() ? html`<a class="button primary" id="new-broadcast" href="#/new">${t('bc.new')}</a>` : ''}
        </div>
        <div class="legend">
          <span><i style="background: var(--ok)"></i>${t('bc.progress.played')}</span>
          <span><i style="background: var(--info)"></i>${t('bc.progress.inProgress')}</span>
          <span><i style="background: var(--bad)"></i>${t('bc.progress.failed')}</span>
          <span><i style="background: #b7bec8"></i>${t('bc.progress.pending')}</span>
          <span><i style="background: #6b7380"></i>${t('bc.progress.ended')}</span>
        </div>
        ${
          page.items.length
            ? html`<div class="scroll">
                <table id="broadcasts">
                  <tr>
                    <th>${t('bc.col.title')}</th>
                    <th>${t('bc.col.level')}</th>
                    <th>${t('bc.col.status')}</th>
                    <th class="hide-narrow">${t('bc.col.start')}</th>
                    <th>${t('bc.col.progress')}</th>
                  </tr>
                  ${page.items.map(broadcastRow)}
                </table>
              </div>`
            : html`<p class="muted">${t('bc.empty')}</p>`
        }`,
    );
  };
  const reload = throttle(() => load().catch((err) => console.warn(err)), 1000);
  onLeave(
    live.on((event, data) => {
      if (event !== 'update') return;
      for (const b of data.broadcasts) {
        const row = $(`tr[data-id="${b.id}"]`);
        if (!row) reload();
        else {
          // In place, like patchView: a link or button focused in the row stays focused.
          const template = document.createElement('template');
          template.innerHTML = piece(broadcastRow(b)).trim();
          morph(row, template.content.firstElementChild);
        }
      }
    }),
  );
  await load();
}

/** The server's own reasons for ending a broadcast early, by their fixed wording. */
const END_REASONS = [
  ['no enabled device in the target', 'end.noDevice'],
  ['its window closed before it could be sent', 'end.missed'],
  ['could not prepare the audio', 'end.audio'],
];
/** Why a broadcast ended early, and for a cancel who did it and when. */
function endText(b) {
  if (b.status === 'cancelled') {
    // Broadcasts cancelled before the reason was required said "cancelled by <token>".
    const legacy = !b.cancelledBy && /^cancelled by /.exec(b.endReason ?? '');
    return t('detail.cancelledBy', {
      by: b.cancelledBy ?? (legacy ? b.endReason.slice(13) : '—'),
      reason: legacy ? '—' : (b.endReason ?? '—'),
      at: fmtTime(b.endedAt),
    });
  }
  if (!b.endReason) return '';
  const known = END_REASONS.find(([start]) => b.endReason.startsWith(start));
  return known ? t(known[1]) : b.endReason;
}
/** A village's outcome in one broadcast; in a cancelled one, what was not heard was called off. */
function villageOutcomeText(v, b) {
  if (v.outcome === 'covered')
    return `${t('outcome.covered')}${v.coveredBy === 'manual' ? ` (${t('coveredBy.manual')})` : ''}`;
  return b.status === 'cancelled' ? t('status.cancelled') : t(`outcome.${v.outcome}`);
}
const METHODS = ['loudspeaker', 'speaker_cart', 'door_to_door', 'phone'];
/** `YYYY-MM-DDTHH:MM` in local time, for a datetime-local input. */
function localInput(ms) {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

async function broadcastView(id) {
  const here = stillHere();
  const isAdmin = () => session.get()?.role === 'admin';
  let current = null;
  const render = (b, c, confirmations) => {
    const s = c.summary;
    const uncovered = c.villages.filter((v) => v.outcome !== 'covered');
    const names = new Map(c.villages.map((v) => [v.code, v.name]));
    const start = Date.parse(c.broadcast.startAt);
    const span = Math.max(
      1,
      Math.max(
        ...c.villages.map((v) => Date.parse(v.playedAt ?? v.firstSoundAt ?? '') || start),
        start + 1,
      ) - start,
    );
    const after = (at) => (at ? fmtDuration(Date.parse(at) - start) : '—');
    const mark = (at, kind) =>
      at
        ? html`<span
            class="${kind}"
            style="left: ${((100 * (Date.parse(at) - start)) / span).toFixed(2)}%"
          ></span>`
        : '';
    const open = ['scheduled', 'dispatching', 'active'].includes(b.status);
    const cancelled = b.status === 'cancelled';
    const canConfirm = canOperate() && b.dispatchedAt && !cancelled;
    const ended = endText(b);
    const toResend =
      b.dispatchedAt && !cancelled ? c.villages.filter((v) => resendable(v, b.status)).length : 0;
    return html`<p><a href="#/broadcasts">← ${t('nav.broadcasts')}</a></p>
      <div class="toolbar">
        <h1 class="grow" id="bc-title">${b.title} ${levelBadge(b.level)} ${resultBadges(b)}</h1>
        <button type="button" id="csv" data-action="csv">${t('common.csv')}</button>
        <button type="button" id="xlsx" data-action="xlsx">${t('common.xlsx')}</button>
        ${canOperate() && toResend ? html`<button type="button" class="danger" id="resend" data-action="resend" data-villages="${toResend}">${t('board.resend')} (${toResend})</button>` : ''}
        ${canOperate() && open ? html`<button type="button" class="danger" id="cancel" data-action="cancel">${t('detail.cancel')}</button>` : ''}
      </div>
      ${cancelled ? html`<p class="notice cancelled" id="cancelled-notice" role="status">${ended}</p>` : ''}
      <p class="muted" id="bc-window">
        ${t('detail.window')}: ${fmtTime(b.startAt)} –
        ${fmtTime(b.expiresAt)}${ended && !cancelled ? ` · ${ended}` : ''}
      </p>
      <div
        class="cards"
        id="coverage-summary"
        data-rate="${s.rate ?? ''}"
        data-covered="${s.covered}"
        data-targeted="${s.targeted}"
      >
        <div class="stat">
          <div class="v">${s.targeted}</div>
          <div class="k">${t('detail.targeted')}</div>
        </div>
        <div class="stat">
          <div class="v ok-text">${s.covered}</div>
          <div class="k">${t('detail.covered')} (${t('detail.manual')} ${s.coveredManually})</div>
        </div>
        <div class="stat">
          <div class="v">${s.partial}</div>
          <div class="k">${t('detail.partial')}</div>
        </div>
        <div class="stat">
          <div class="v">${s.uncovered}</div>
          <div class="k">${cancelled ? t('detail.notHeard') : t('detail.uncovered')}</div>
        </div>
        <div class="stat">
          <div class="v" id="coverage-rate">${fmtPct(s.rate)}</div>
          <div class="k">${t('detail.rate')}</div>
        </div>
      </div>
      <div class="card" id="bc-progress">${progressBar(b.deliveries)}</div>
      <h2>${t('detail.milestones')}</h2>
      ${['firstSound', 'played'].map(
        (kind) =>
          html`<div class="cards" id="milestones-${kind}">
            ${c.milestones[kind].map(
              (m) =>
                html`<div class="stat" data-share="${m.share}" data-after="${m.afterMs ?? ''}">
                  <div class="v">
                    ${m.afterMs === null ? t('detail.notYet') : fmtDuration(m.afterMs)}
                  </div>
                  <div class="k">
                    ${t(`detail.${kind}`)} ·
                    ${t('detail.milestone', { share: fmtPct(m.share), villages: m.villages })}
                  </div>
                </div>`,
            )}
          </div>`,
      )}
      <h2>${cancelled ? t('detail.notHeardList') : t('detail.uncoveredList')}</h2>
      ${
        uncovered.length
          ? html`<div class="scroll">
              <table id="uncovered">
                <tr>
                  <th>${t('detail.col.town')}</th>
                  <th>${t('detail.col.village')}</th>
                  <th>${t('detail.col.outcome')}</th>
                  <th>${t('detail.col.reason')}</th>
                  <th></th>
                </tr>
                ${uncovered.map(
                  (v) =>
                    html`<tr
                      data-key="u-${v.code}"
                      data-code="${v.code}"
                      data-reason="${v.reason ?? ''}"
                    >
                      <td>${v.townName}</td>
                      <td><a href="#/village/${v.code}">${v.name}</a></td>
                      <td class="outcome">${villageOutcomeText(v, b)}</td>
                      <td>
                        ${v.reason ? t(`reason.${v.reason}`) : ''}${v.failures.length ? html`<br />${failuresLine(v.failures)}` : ''}
                      </td>
                      <td>
                        ${canConfirm ? html`<button type="button" class="confirm" id="confirm-${v.code}" data-action="confirm" data-code="${v.code}" data-name="${v.name}">${t('detail.confirm')}</button>` : ''}
                      </td>
                    </tr>`,
                )}
              </table>
            </div>`
          : html`<p class="ok-text">${t('detail.allCovered')}</p>`
      }
      <h2>${t('detail.manualList')}</h2>
      ${
        confirmations.length
          ? html`<div class="scroll">
              <table id="confirmations">
                <tr>
                  <th>${t('detail.col.village')}</th>
                  <th>${t('confirm.method')}</th>
                  <th>${t('confirm.heardAt')}</th>
                  <th>${t('confirm.by')}</th>
                  <th class="hide-narrow">${t('confirm.recordedBy')}</th>
                  <th>${t('confirm.note')}</th>
                  <th>${t('bc.col.status')}</th>
                  <th></th>
                </tr>
                ${confirmations.map(
                  (m) =>
                    html`<tr
                      data-key="m-${m.id}"
                      data-id="${m.id}"
                      data-code="${m.villageCode}"
                      data-withdrawn="${m.withdrawn ? 'yes' : 'no'}"
                      class="${m.withdrawn ? 'withdrawn' : ''}"
                    >
                      <td>${names.get(m.villageCode) ?? m.villageCode}</td>
                      <td class="method">${m.method ? t(`method.${m.method}`) : '—'}</td>
                      <td>${fmtTime(m.heardAt)}</td>
                      <td>${m.confirmedBy}</td>
                      <td class="hide-narrow">${m.recordedBy}</td>
                      <td>${m.note ?? ''}</td>
                      <td class="state">
                        ${m.withdrawn ? t('confirm.withdrawnBy', { by: m.withdrawn.by, reason: m.withdrawn.reason, at: fmtTime(m.withdrawn.at) }) : t('confirm.standing')}
                      </td>
                      <td>
                        ${isAdmin() && !m.withdrawn ? html`<button type="button" id="withdraw-${m.id}" data-action="withdraw" data-id="${m.id}" data-name="${names.get(m.villageCode) ?? m.villageCode}">${t('confirm.withdraw')}</button>` : ''}
                      </td>
                    </tr>`,
                )}
              </table>
            </div>`
          : html`<p class="muted">${t('detail.noManual')}</p>`
      }
      <h2>${t('detail.byTown')}</h2>
      <div class="scroll">
        <table>
          <tr>
            <th>${t('detail.col.town')}</th>
            <th class="num">${t('detail.targeted')}</th>
            <th class="num">${t('detail.covered')}</th>
            <th class="num">${t('detail.partial')}</th>
            <th class="num">${t('detail.uncovered')}</th>
            <th class="num">${t('detail.rate')}</th>
          </tr>
          ${c.byTown.map(
            (x) =>
              html`<tr data-key="t-${x.townCode}">
                <td>${x.townName}</td>
                <td class="num">${x.targeted}</td>
                <td class="num">${x.covered}</td>
                <td class="num">${x.partial}</td>
                <td class="num">${x.uncovered}</td>
                <td class="num">${fmtPct(x.rate)}</td>
              </tr>`,
          )}
        </table>
      </div>
      <h2>${t('detail.byType')}</h2>
      <div class="scroll">
        <table>
          <tr>
            <th>${t('detail.col.type')}</th>
            <th class="num">${t('detail.col.devices')}</th>
            <th class="num">${t('detail.col.played')}</th>
            <th class="num">${t('detail.col.failed')}</th>
            <th class="num">${t('detail.rate')}</th>
          </tr>
          ${c.byType.map(
            (x) =>
              html`<tr data-key="y-${x.type}">
                <td>${t(`type.${x.type}`)}</td>
                <td class="num">${x.devices}</td>
                <td class="num">${x.played}</td>
                <td class="num">${x.failed}</td>
                <td class="num">${fmtPct(x.rate)}</td>
              </tr>`,
          )}
        </table>
      </div>
      <h2>${t('detail.timeline')}</h2>
      <div class="scroll">
        <table id="timeline">
          <tr>
            <th>${t('detail.col.village')}</th>
            <th>${t('detail.col.outcome')}</th>
            <th>${t('detail.firstSoundAt')}</th>
            <th>${t('detail.playedAt')}</th>
            <th style="width: 40%"></th>
          </tr>
          ${c.villages.map(
            (v) =>
              html`<tr data-key="v-${v.code}" data-code="${v.code}">
                <td>${v.name} <small class="muted hide-narrow">${v.townName}</small></td>
                <td class="outcome">${villageOutcomeText(v, b)}</td>
                <td class="first-sound">${after(v.firstSoundAt)}</td>
                <td class="played">${after(v.playedAt)}</td>
                <td>
                  <div class="timeline">
                    ${mark(v.firstSoundAt, 'sound')}${mark(v.playedAt, 'done')}
                  </div>
                </td>
              </tr>`,
          )}
        </table>
      </div>`;
  };
  const load = async () => {
    const [b, c, confirmations] = await Promise.all([
      api(`/api/broadcasts/${encodeURIComponent(id)}`),
      api(`/api/broadcasts/${encodeURIComponent(id)}/coverage`),
      api(`/api/broadcasts/${encodeURIComponent(id)}/confirmations`),
    ]);
    if (!here()) return;
    current = b;
    // Live updates change the page in place: focus, scroll and open dialogs stay.
    patchView(render(b, c, confirmations));
  };

  const cancelDialog = () => {
    const dialog = openDialog(
      html`<form id="cancel-form" class="card">
        <h2>${t('detail.cancel')}</h2>
        <p>${t('detail.cancelConfirm')}</p>
        <p>
          <label for="cancel-reason">${t('detail.cancelReason')}</label><br />
          <textarea id="cancel-reason" required maxlength="200" rows="2" autofocus></textarea>
        </p>
        <p class="error" id="cancel-error" role="alert"></p>
        <div class="toolbar">
          <button type="submit" class="danger" id="cancel-go">${t('detail.cancelGo')}</button>
          <button type="button" data-close>${t('common.back')}</button>
        </div>
      </form>`,
      { id: 'cancel-dialog', label: t('detail.cancel') },
    );
    $('#cancel-form', dialog).addEventListener('submit', async (e) => {
      e.preventDefault();
      const reason = $('#cancel-reason', dialog).value.trim();
      if (!reason) {
        $('#cancel-error', dialog).textContent = t('err.reason.isDisplayName');
        return;
      }
      $('#cancel-go', dialog).disabled = true;
      try {
        await api(`/api/broadcasts/${id}/cancel`, { method: 'POST', body: { reason } });
        dialog.close();
        await load();
      } catch (err) {
        $('#cancel-error', dialog).textContent = errorText(err);
        $('#cancel-go', dialog).disabled = false;
      }
    });
  };

  const confirmDialog = (code, name) => {
    const now = Date.now();
    const startMs = Date.parse(current.startAt);
    const dialog = openDialog(
      html`<form id="manual-form" class="card">
        <h2>${t('confirm.title', { village: name })}</h2>
        <div class="row">
          <label for="c-method">${t('confirm.method')}</label>
          <select id="c-method" required>
            <option value="">${t('confirm.pick')}</option>
            ${METHODS.map((m) => html`<option value="${m}">${t(`method.${m}`)}</option>`)}
          </select>
        </div>
        <div class="row">
          <label for="c-heard">${t('confirm.heardAt')}</label>
          <input
            type="datetime-local"
            id="c-heard"
            required
            value="${localInput(now)}"
            min="${localInput(startMs)}"
            max="${localInput(now + 60_000)}"
          />
        </div>
        <div class="row">
          <label for="c-by">${t('confirm.by')}</label>
          <input id="c-by" maxlength="100" placeholder="${session.get()?.name ?? ''}" />
        </div>
        <div class="row">
          <label for="c-note">${t('confirm.note')}</label>
          <textarea id="c-note" maxlength="500" rows="3"></textarea>
        </div>
        <p class="error" id="c-error" role="alert"></p>
        <div class="toolbar">
          <button type="submit" class="primary" id="c-save">${t('confirm.save')}</button>
          <button type="button" data-close>${t('common.back')}</button>
        </div>
      </form>`,
      { id: 'manual-dialog', label: t('confirm.title', { village: name }) },
    );
    $('#manual-form', dialog).addEventListener('submit', async (e) => {
      e.preventDefault();
      const by = $('#c-by', dialog).value.trim();
      const note = $('#c-note', dialog).value.trim();
      const heard = $('#c-heard', dialog).value;
      // Minutes typed for the minute the broadcast started still count (the server allows one).
      const heardAt = new Date(Math.max(Date.parse(toIso(heard)), startMs)).toISOString();
      $('#c-save', dialog).disabled = true;
      try {
        await api(`/api/broadcasts/${id}/confirmations`, {
          method: 'POST',
          body: {
            village: code,
            method: $('#c-method', dialog).value,
            heardAt,
            ...(by ? { by } : {}),
            ...(note ? { note } : {}),
          },
        });
        dialog.close();
        await load();
      } catch (err) {
        $('#c-error', dialog).textContent = errorText(err);
        $('#c-save', dialog).disabled = false;
      }
    });
  };

  const withdrawDialog = (confirmationId, name) => {
    const dialog = openDialog(
      html`<form id="withdraw-form" class="card">
        <h2>${t('confirm.withdrawTitle', { village: name })}</h2>
        <p>${t('confirm.withdrawText')}</p>
        <p>
          <label for="w-reason">${t('confirm.withdrawReason')}</label><br />
          <textarea id="w-reason" required maxlength="200" rows="2" autofocus></textarea>
        </p>
        <p class="error" id="w-error" role="alert"></p>
        <div class="toolbar">
          <button type="submit" class="danger" id="w-go">${t('confirm.withdraw')}</button>
          <button type="button" data-close>${t('common.back')}</button>
        </div>
      </form>`,
      { id: 'withdraw-dialog', label: t('confirm.withdrawTitle', { village: name }) },
    );
    $('#withdraw-form', dialog).addEventListener('submit', async (e) => {
      e.preventDefault();
      const reason = $('#w-reason', dialog).value.trim();
      $('#w-go', dialog).disabled = true;
      try {
        await api(`/api/broadcasts/${id}/confirmations/${confirmationId}/withdraw`, {
          method: 'POST',
          body: { reason },
        });
        dialog.close();
        await load();
      } catch (err) {
        $('#w-error', dialog).textContent = errorText(err);
        $('#w-go', dialog).disabled = false;
      }
    });
  };

  // One listener for the whole page: buttons drawn by a live update work without rebinding.
  const onClick = (e) => {
    const button = e.target.closest('[data-action]');
    if (!button || !view().contains(button)) return;
    const { action } = button.dataset;
    if (action === 'csv')
      download(`/api/broadcasts/${id}/coverage?format=csv&lang=${lang()}`).catch((err) =>
        showError(err),
      );
    else if (action === 'xlsx')
      download(`/api/broadcasts/${id}/coverage?format=xlsx&lang=${lang()}`).catch((err) =>
        showError(err),
      );
    else if (action === 'resend')
      void resendUncovered(current, Number(button.dataset.villages), view(), button);
    else if (action === 'cancel') cancelDialog();
    else if (action === 'confirm') confirmDialog(button.dataset.code, button.dataset.name);
    else if (action === 'withdraw') withdrawDialog(button.dataset.id, button.dataset.name);
  };
  view().addEventListener('click', onClick);
  onLeave(() => view().removeEventListener('click', onClick));
  const refresh = throttle(() => load().catch((err) => console.warn(err)), 1000);
  onLeave(
    live.on(
      (event, data) => event === 'update' && data.broadcasts.some((b) => b.id === id) && refresh(),
    ),
  );
  await load();
}

// -- target picker (new broadcast and schedules) --

/**
 * Picks a broadcast target. With `preselect: false` nothing is chosen at first (value() is null
 * until a scope is picked): a schedule must never default to the whole county.
 */
async function targetPicker(container, onChange, { preselect = true } = {}) {
  const [towns, villages] = await Promise.all([all('/api/towns'), all('/api/villages')]);
  container.innerHTML = piece(
    html` <div class="checks">
        <label
          ><input type="radio" name="scope" value="all" ${preselect ? raw('checked') : ''} />
          ${t('new.target.all')}</label
        >
        <label><input type="radio" name="scope" value="choose" /> ${t('new.target.choose')}</label>
      </div>
      <div id="places" hidden>
        <p class="muted">${t('new.target.towns')}</p>
        <div class="checks">
          ${towns.items.map((x) => html`<label><input type="checkbox" name="town" value="${x.code}" /> ${x.name}</label>`)}
        </div>
        <p class="muted">${t('new.target.villages')}</p>
        <input type="search" id="village-search" placeholder="${t('new.target.search')}" />
        <div class="villages-pick">
          ${villages.items.map(
            (v) =>
              html`<label style="display: block" data-search="${v.name} ${v.code} ${v.townName}"
                ><input type="checkbox" name="village" value="${v.code}" /> ${v.name}
                <small class="muted">${v.townName}</small></label
              >`,
          )}
        </div>
      </div>
      <p class="muted">${t('new.target.types')}</p>
      <div class="checks">
        ${DEVICE_TYPES.map((x) => html`<label><input type="checkbox" name="type" value="${x}" /> ${t(`type.${x}`)}</label>`)}
      </div>`,
  );
  const value = () => {
    const checked = (name) => $$(`input[name="${name}"]:checked`, container).map((i) => i.value);
    const scope = $('input[name="scope"]:checked', container)?.value;
    if (!scope) return null;
    const target = {};
    if (scope === 'all') target.all = true;
    else {
      if (checked('town').length) target.towns = checked('town');
      if (checked('village').length) target.villages = checked('village');
    }
    if (checked('type').length) target.deviceTypes = checked('type');
    return target;
  };
  container.addEventListener('change', () => {
    $('#places', container).hidden =
      $('input[name="scope"]:checked', container)?.value !== 'choose';
    onChange(value());
  });
  $('#village-search', container).addEventListener('input', (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const label of $$('.villages-pick label', container))
      label.hidden = q !== '' && !label.dataset.search.toLowerCase().includes(q);
  });
  return {
    value,
    set(target) {
      const scope = target.all ? 'all' : 'choose';
      $(`input[name="scope"][value="${scope}"]`, container).checked = true;
      $('#places', container).hidden = scope === 'all';
      for (const i of $$('input[name="town"]', container))
        i.checked = target.towns?.includes(i.value) ?? false;
      for (const i of $$('input[name="village"]', container))
        i.checked = target.villages?.includes(i.value) ?? false;
      for (const i of $$('input[name="type"]', container))
        i.checked = target.deviceTypes?.includes(i.value) ?? false;
    },
  };
}

/** Shows how many villages and devices a target reaches, asking the server as it changes. */
function reachLine(el) {
  let current = null;
  const update = debounce(async (target) => {
    current = null;
    delete el.dataset.villages;
    delete el.dataset.devices;
    if (!target) {
      el.textContent = t('new.target.none');
      return;
    }
    try {
      const reach = await api('/api/broadcasts/target-preview', { method: 'POST', body: target });
      current = reach;
      el.textContent = t('new.reach', reach);
      el.dataset.villages = reach.villages;
      el.dataset.devices = reach.devices;
    } catch (err) {
      el.textContent = errorText(err);
    }
  }, 250);
  return { update, value: () => current };
}

async function clipOptions(select, selected) {
  const clips = await api('/api/clips?status=ready&limit=500');
  select.innerHTML = piece(
    html`<option value="">${t('new.clip.pick')}</option>
      ${clips.items.map(
        (c) =>
          html`<option value="${c.id}" ${c.id === selected ? raw('selected') : ''}>
            ${c.title} (${Math.round(c.durationMs / 1000)} s)
          </option>`,
      )}`,
  );
}

/** Fetches a clip's audio with the token and plays it from a blob URL. */
async function previewClip(id, audio) {
  if (audio.src) URL.revokeObjectURL(audio.src);
  audio.removeAttribute('src');
  audio.hidden = !id;
  if (!id) return;
  const res = await api(`/api/clips/${id}/audio`, { raw: true });
  audio.src = URL.createObjectURL(await res.blob());
}

function toIso(local) {
  return local ? new Date(local).toISOString() : undefined;
}

async function newBroadcastView() {
  if (!canOperate()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  show(
    html`<h1>${t('new.title')}</h1>
      <form id="new-broadcast-form" class="card">
        <div class="row">
          <label for="title">${t('new.name')}</label
          ><input id="title" name="title" required maxlength="200" />
        </div>
        <div class="row">
          <label for="clip">${t('new.clip')}</label>
          <div>
            <select id="clip" name="clip"></select>
            <p>
              ${t('new.clip.upload')}:
              <input type="file" id="upload" accept="audio/*,.mp3,.wav,.m4a,.ogg,.amr" />
            </p>
            <p id="clip-state" class="muted" role="status"></p>
            <audio id="preview" controls hidden></audio>
          </div>
        </div>
        <div class="row">
          <label>${t('new.target')}</label>
          <div>
            <div id="target"></div>
            <p id="reach" class="muted" role="status"></p>
          </div>
        </div>
        <div class="row">
          <label for="level">${t('new.level')}</label>
          <div>
            <select id="level" name="level">
              ${LEVELS.map((l) => html`<option value="${l}" ${l === 'routine' ? raw('selected') : ''}>${t(`level.${l}`)}</option>`)}
            </select>
            <span id="level-badge">${levelBadge('routine')}</span>
          </div>
        </div>
        <div class="row">
          <label for="start">${t('new.start')}</label>
          <div>
            <input type="datetime-local" id="start" />
            <small class="muted">${t('new.start.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label for="expires">${t('new.expires')}</label>
          <div>
            <input type="datetime-local" id="expires" />
            <small class="muted">${t('new.expires.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label for="repeat">${t('new.repeat')}</label
          ><input type="number" id="repeat" min="1" max="10" value="1" />
        </div>
        <div class="row">
          <label></label><label><input type="checkbox" id="tone" /> ${t('new.tone')}</label>
        </div>
        <p class="error" id="form-error" role="alert"></p>
        <button class="primary" type="submit" id="send">${t('new.submit')}</button>
      </form>`,
  );
  const clip = $('#clip');
  const level = $('#level');
  const tone = $('#tone');
  // Bound before the form's lists load: a level chosen meanwhile still sets its tone and badge.
  level.addEventListener('change', () => {
    tone.checked = EMERGENCY.has(level.value);
    $('#level-badge').innerHTML = piece(levelBadge(level.value));
  });
  await clipOptions(clip);
  const reachOf = reachLine($('#reach'));
  const picker = await targetPicker($('#target'), reachOf.update);
  reachOf.update(picker.value());
  clip.addEventListener('change', () =>
    previewClip(clip.value, $('#preview')).catch((err) => showError(err)),
  );

  $('#upload').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const state = $('#clip-state');
    const form = new FormData();
    form.append('file', file);
    try {
      let c = await api('/api/clips', { method: 'POST', body: form });
      while (c.status !== 'ready' && c.status !== 'failed') {
        state.textContent = t('new.clip.processing');
        await new Promise((r) => setTimeout(r, 700));
        c = await api(`/api/clips/${c.id}`);
      }
      if (c.status === 'failed') {
        // The server's words (English, from ffmpeg) go in the tooltip for whoever fixes it.
        state.textContent = t('new.clip.failed');
        state.title = c.failureReason ?? '';
        return;
      }
      state.textContent = t('new.clip.ready', { seconds: Math.round(c.durationMs / 100) / 10 });
      await clipOptions(clip, c.id);
      await previewClip(c.id, $('#preview'));
    } catch (err) {
      state.textContent = errorText(err);
    }
  });

  const body = () => ({
    title: $('#title').value.trim(),
    clipId: clip.value,
    level: level.value,
    target: picker.value(),
    startAt: toIso($('#start').value),
    expiresAt: toIso($('#expires').value),
    repeat: Number($('#repeat').value) || 1,
    attentionTone: tone.checked,
  });
  // One key per broadcast being sent: pressing send again after no answer (the server restarted)
  // finds the broadcast the first press made instead of sending a second alert.
  // getRandomValues, not randomUUID: the console is often served over plain HTTP on the LAN.
  const newKey = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
  let requestKey = newKey();
  const send = async () => {
    const button = $('#send');
    button.disabled = true;
    try {
      const b = await api('/api/broadcasts', {
        method: 'POST',
        body: body(),
        headers: { 'Idempotency-Key': requestKey },
      });
      requestKey = newKey();
      location.hash = `#/broadcasts/${b.id}`;
    } catch (err) {
      if (err instanceof ApiError && err.body?.error === 'IDEMPOTENCY_KEY_REUSED') {
        // The form changed since the press that got no answer: this is a new broadcast.
        requestKey = newKey();
        return send();
      }
      $('#form-error').textContent = errorText(err);
      button.disabled = false;
    }
  };
  $('#new-broadcast-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('#form-error').textContent = '';
    const b = body();
    if (!b.clipId) {
      $('#form-error').textContent = t('new.clip.none');
      return;
    }
    if (!EMERGENCY.has(b.level)) return void send();
    // Emergencies interrupt everything and ignore quiet hours: one more, explicit step.
    const dialog = openDialog(
      html`<div class="card">
        <h2 id="confirm-title">${t('new.confirmTitle')}</h2>
        <p>
          ${t('new.confirmText', { villages: reachOf.value()?.villages ?? '?', devices: reachOf.value()?.devices ?? '?', level: t(`level.${b.level}`), title: b.title })}
        </p>
        <div class="toolbar">
          <button type="button" class="danger" id="confirm-send">${t('new.confirmGo')}</button>
          <button type="button" id="confirm-back" data-close autofocus>${t('common.back')}</button>
        </div>
      </div>`,
      { id: 'confirm', label: t('new.confirmTitle') },
    );
    $('#confirm-send', dialog).addEventListener('click', () => {
      dialog.close();
      void send();
    });
  });
}

// -- schedules --

/** Days of the week as a Chinese calendar shows them, Monday first; cron's Sunday is 0 (or 7). */
const WEEK = [1, 2, 3, 4, 5, 6, 0];
const DOW_NAMES = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };
/** Level I and II schedules need the explicit confirmation a sent emergency needs. */
const CONFIRM_SCHEDULE = new Set(['I', 'II']);

/** The weekdays (0–6) a cron day-of-week field names, or null when it says more than that. */
function weekdaysOf(field) {
  const days = new Set();
  for (const part of field.toUpperCase().split(',')) {
    const m = /^(\w+)(?:-(\w+))?$/.exec(part);
    if (!m) return null;
    const num = (x) => (x in DOW_NAMES ? DOW_NAMES[x] : /^[0-7]$/.test(x) ? Number(x) : null);
    const from = num(m[1]);
    const to = m[2] === undefined ? from : num(m[2]);
    if (from === null || to === null || from > to) return null;
    for (let d = from; d <= to; d++) days.add(d % 7);
  }
  return days;
}

/**
 * The day-and-time picker's reading of a cron rule, or null when the rule says more than the
 * picker can (then the form opens the advanced field instead of rewriting it).
 */
function cronToPicker(cron) {
  const f = cron.trim().split(/\s+/);
  if (f.length !== 5 || f[3] !== '*' || !/^\d{1,2}$/.test(f[0]) || !/^\d{1,2}$/.test(f[1]))
    return null;
  const [minute, hour] = [Number(f[0]), Number(f[1])];
  if (minute > 59 || hour > 23) return null;
  const time = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  const [dom, dow] = [f[2], f[4]];
  if (dom === '*' && dow === '*') return { mode: 'daily', time, days: [], dom: 1 };
  if (dow === '*' && /^\d{1,2}$/.test(dom) && Number(dom) >= 1 && Number(dom) <= 31)
    return { mode: 'monthly', time, days: [], dom: Number(dom) };
  if (dom !== '*') return null;
  const set = weekdaysOf(dow);
  if (!set) return null;
  const days = WEEK.filter((d) => set.has(d));
  if (days.length === 7) return { mode: 'daily', time, days: [], dom: 1 };
  if (days.join() === '1,2,3,4,5') return { mode: 'weekdays', time, days, dom: 1 };
  return { mode: 'weekly', time, days, dom: 1 };
}

/** The cron rule a picker state writes, or `{ problem }` in words. */
function pickerToCron(p) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(p.time ?? '');
  if (!m) return { problem: t('sch.err.time') };
  const at = `${Number(m[2])} ${Number(m[1])}`;
  if (p.mode === 'daily') return { cron: `${at} * * *` };
  if (p.mode === 'weekdays') return { cron: `${at} * * 1-5` };
  if (p.mode === 'weekly') {
    if (!p.days.length) return { problem: t('sch.err.days') };
    return { cron: `${at} * * ${[...p.days].sort((a, b) => a - b).join(',')}` };
  }
  if (!Number.isInteger(p.dom) || p.dom < 1 || p.dom > 31) return { problem: t('sch.err.dom') };
  return { cron: `${at} ${p.dom} * *` };
}

/** A cron rule in words (每天 08:00), or null when the picker cannot read it. */
function describeCron(cron) {
  const p = cronToPicker(cron);
  if (!p) return null;
  const days = p.days.map((d) => t(`wd.${d}`)).join(t('sch.daysJoin'));
  return t(`sch.desc.${p.mode}`, { time: p.time, days, dom: p.dom });
}

const CRON_RANGES = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

/**
 * What is wrong with a raw cron rule, in the staff's language, or null. Only the common mistakes
 * (field count, syntax, numbers out of range); names and extensions are left to the server.
 */
function cronProblem(cron) {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return t('sch.err.fields', { n: fields.length });
  for (const [i, field] of fields.entries()) {
    const [lo, hi] = CRON_RANGES[i];
    const where = { index: i + 1, field: t(`sch.field.${i}`) };
    for (const part of field.split(',')) {
      const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
      if (!m) {
        if (/^[A-Za-z0-9*?#/-]+$/.test(part) && /[A-Za-z?#]/.test(part)) continue;
        return t('sch.err.part', { ...where, part });
      }
      const numbers = m[1] === '*' ? [] : m[1].split('-').map(Number);
      for (const value of numbers)
        if (value < lo || value > hi) return t('sch.err.range', { ...where, value, lo, hi });
      if ((numbers.length === 2 && numbers[0] > numbers[1]) || m[2] === '0')
        return t('sch.err.part', { ...where, part });
    }
  }
  return null;
}

/** The server's refusal of a schedule, in the staff's language where the form knows the field. */
function scheduleErrorText(err) {
  const details = err?.body?.details;
  if (!(err instanceof ApiError) || err.status !== 400 || !Array.isArray(details))
    return errorText(err);
  const known = (d) => {
    // The same fields come bare from the quiet-hours preview and under template. when saving.
    const f = (d.field ?? '').replace(/^(?=level|target|clipId|windowMinutes)/, 'template.');
    if (f === 'cron') return t('sch.err.cron');
    if (f === 'timeZone') return t('sch.err.tz');
    if (f === 'name') return t('sch.err.name');
    if (f === 'template.title') return t('sch.err.title');
    if (f === 'template.level') return t('sch.err.level');
    if (f === 'template.windowMinutes') return t('sch.err.window');
    if (f === 'template.clipId')
      return t(
        { exists: 'sch.err.clipUnknown', usable: 'sch.err.clipFailed' }[d.rule] ?? 'sch.err.clip',
      );
    if (f.startsWith('template.target'))
      return d.rule === 'exists' ? t('sch.err.targetUnknown') : t('sch.err.target');
    return d.message ?? `${f}: ${d.rule}`;
  };
  return [...new Set(details.map(known))].join('\n');
}

async function schedulesView() {
  const page = await all('/api/schedules');
  show(
    html`<div class="toolbar">
        <h1 class="grow">${t('sch.title')}</h1>
        ${canOperate() ? html`<a class="button primary" href="#/schedules/new" id="new-schedule">${t('sch.new')}</a>` : ''}
      </div>
      ${
        page.items.length
          ? html`<div class="scroll">
              <table id="schedules">
                <tr>
                  <th>${t('sch.col.name')}</th>
                  <th>${t('sch.col.cron')}</th>
                  <th>${t('bc.col.level')}</th>
                  <th>${t('sch.col.next')}</th>
                  <th>${t('sch.col.enabled')}</th>
                  <th></th>
                </tr>
                ${page.items.map(
                  (s) =>
                    html`<tr data-id="${s.id}">
                      <td>${s.name}</td>
                      <td class="rule">
                        ${describeCron(s.cron) ?? html`<code>${s.cron}</code>`}
                        <br /><small class="muted"
                          >${describeCron(s.cron) ? html`<code>${s.cron}</code> ` : ''}${s.timeZone}</small
                        >
                      </td>
                      <td>${levelBadge(s.template.level)}</td>
                      <td>${s.nextFireAt ? fmtZoned(s.nextFireAt, s.timeZone) : '—'}</td>
                      <td>${s.enabled ? t('sch.enabled') : t('sch.disabled')}</td>
                      <td>
                        ${
                          canOperate()
                            ? html`<button
                                  type="button"
                                  class="toggle"
                                  data-id="${s.id}"
                                  data-enabled="${s.enabled}"
                                >
                                  ${s.enabled ? t('sch.disable') : t('sch.enable')}
                                </button>
                                <a class="button" href="#/schedules/${s.id}">${t('sch.edit')}</a>`
                            : ''
                        }
                      </td>
                    </tr>`,
                )}
              </table>
            </div>`
          : html`<p class="muted">${t('sch.empty')}</p>`
      }`,
  );
  for (const button of $$('button.toggle')) {
    button.addEventListener('click', async () => {
      const s = page.items.find((x) => x.id === button.dataset.id);
      const enabling = button.dataset.enabled !== 'true';
      // Re-arming a level I/II schedule sends emergencies without anyone looking: ask first.
      if (
        enabling &&
        CONFIRM_SCHEDULE.has(s.template.level) &&
        !confirm(
          t('sch.enableConfirm', {
            level: t(`level.${s.template.level}`),
            title: s.template.title,
            rule: describeCron(s.cron) ?? s.cron,
          }),
        )
      )
        return;
      try {
        await api(`/api/schedules/${button.dataset.id}`, {
          method: 'PATCH',
          body: { enabled: enabling },
        });
        await schedulesView();
      } catch (err) {
        showError(err);
      }
    });
  }
}

async function scheduleFormView(id) {
  const here = stillHere();
  if (!canOperate()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  const existing = id === 'new' ? null : await api(`/api/schedules/${encodeURIComponent(id)}`);
  if (!here()) return;
  const modes = ['daily', 'weekdays', 'weekly', 'monthly'];
  show(
    html`<p><a href="#/schedules">← ${t('sch.title')}</a></p>
      <h1>${existing ? existing.name : t('sch.new')}</h1>
      <form id="schedule-form" class="card" novalidate>
        <div class="row">
          <label for="s-name">${t('sch.name')}</label><input id="s-name" maxlength="200" />
        </div>
        <div class="row">
          <label>${t('sch.when')}</label>
          <div id="s-when">
            <div id="s-picker">
              <div class="checks" role="radiogroup">
                ${modes.map(
                  (m) =>
                    html`<label
                      ><input
                        type="radio"
                        name="s-mode"
                        value="${m}"
                        ${m === 'daily' ? raw('checked') : ''}
                      />
                      ${t(`sch.mode.${m}`)}</label
                    >`,
                )}
              </div>
              <div class="checks" id="s-days" hidden>
                ${WEEK.map(
                  (d) =>
                    html`<label
                      ><input type="checkbox" name="s-day" value="${d}" /> ${t(`wd.${d}`)}</label
                    >`,
                )}
              </div>
              <p id="s-dom-row" hidden>
                <label
                  >${t('sch.dom')}
                  <input type="number" id="s-dom" min="1" max="31" value="1" style="width: 5rem"
                /></label>
                <small class="muted">${t('sch.dom.hint')}</small>
              </p>
              <p>
                <label>${t('sch.time')} <input type="time" id="s-time" value="08:00" /></label>
                <small class="muted" id="s-cron-shown"></small>
              </p>
            </div>
            <p id="s-picker-off" class="warn-text" hidden>${t('sch.advanced.only')}</p>
            <label><input type="checkbox" id="s-advanced" /> ${t('sch.advanced')}</label>
            <div id="s-cron-row" hidden>
              <input id="s-cron" placeholder="0 8 * * 1-5" autocomplete="off" spellcheck="false" />
              <small class="muted">${t('sch.cron.hint')}</small>
            </div>
          </div>
        </div>
        <div class="row">
          <label for="s-tz">${t('sch.tz')}</label><input id="s-tz" value="Asia/Shanghai" />
        </div>
        <div class="row">
          <label>${t('sch.preview')}</label>
          <div>
            <ol id="s-preview" class="muted">
              <li>${t('sch.previewNeeded')}</li>
            </ol>
            <small class="muted" id="s-preview-zone"></small>
          </div>
        </div>
        <div class="row">
          <label for="s-title">${t('new.name')}</label><input id="s-title" maxlength="200" />
        </div>
        <div class="row">
          <label for="clip">${t('new.clip')}</label
          ><select id="clip"></select>
        </div>
        <div class="row">
          <label for="s-level">${t('new.level')}</label>
          <div>
            <select id="s-level">
              <option value="">${t('level.pick')}</option>
              ${LEVELS.map((l) => html`<option value="${l}">${t(`level.${l}`)}</option>`)}
            </select>
            <span id="s-level-badge"></span>
          </div>
        </div>
        <div class="row">
          <label>${t('new.target')}</label>
          <div>
            <div id="target"></div>
            <p id="reach" class="muted" role="status"></p>
          </div>
        </div>
        <div class="row">
          <label>${t('sch.quiet.title')}</label>
          <div id="s-quiet" class="muted" role="status">${t('sch.quiet.pending')}</div>
        </div>
        <div class="row">
          <label for="s-window">${t('sch.window')}</label>
          <div>
            <input type="number" id="s-window" min="1" max="10080" />
            <small class="muted">${t('sch.window.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label></label
          ><label><input type="checkbox" id="s-enabled" checked /> ${t('sch.enabled')}</label>
        </div>
        <p class="error" id="form-error" role="alert"></p>
        <button class="primary" type="submit" id="s-save">${t('common.save')}</button>
      </form>`,
  );
  await clipOptions($('#clip'), existing?.template.clipId);
  if (!here()) return;
  const reachOf = reachLine($('#reach'));

  // -- when: the picker writes the cron; the advanced field takes any cron --
  const pickerState = () => ({
    mode: $('input[name="s-mode"]:checked').value,
    days: $$('input[name="s-day"]:checked').map((i) => Number(i.value)),
    dom: Number($('#s-dom').value),
    time: $('#s-time').value,
  });
  const showPicker = (p) => {
    $(`input[name="s-mode"][value="${p.mode}"]`).checked = true;
    for (const i of $$('input[name="s-day"]')) i.checked = p.days.includes(Number(i.value));
    $('#s-dom').value = String(p.dom);
    $('#s-time').value = p.time;
  };
  const advanced = () => $('#s-advanced').checked;
  /** The rule as the form stands: `{ cron }` or `{ problem }`. */
  const rule = () => {
    if (!advanced()) return pickerToCron(pickerState());
    const cron = $('#s-cron').value.trim().replace(/\s+/g, ' ');
    if (!cron) return { problem: t('sch.previewNeeded') };
    const problem = cronProblem(cron);
    return problem ? { problem } : { cron };
  };
  const layout = () => {
    const mode = pickerState().mode;
    $('#s-days').hidden = mode !== 'weekly';
    $('#s-dom-row').hidden = mode !== 'monthly';
    $('#s-cron-row').hidden = !advanced();
    $('#s-picker').hidden = advanced();
    $('#s-picker-off').hidden = !advanced() || cronToPicker($('#s-cron').value) !== null;
    const r = rule();
    $('#s-cron-shown').textContent = r.cron ? t('sch.cronIs', { cron: r.cron }) : '';
  };

  // -- the next firings, and the villages quiet hours hold back --
  let previewOk = false;
  const level = () => $('#s-level').value;
  const windowMinutes = () => Number($('#s-window').value) || undefined;
  let quietAsked = 0;
  const showQuiet = debounce(async () => {
    if (!here()) return;
    // Answers can arrive out of order: only the latest question's answer is drawn.
    const asked = ++quietAsked;
    const box = $('#s-quiet');
    const r = rule();
    const target = picker.value();
    if (!previewOk || !r.cron || !level() || !target) {
      box.textContent = t('sch.quiet.pending');
      delete box.dataset.held;
      return;
    }
    try {
      const q = await api('/api/schedules/quiet-preview', {
        method: 'POST',
        body: {
          cron: r.cron,
          timeZone: $('#s-tz').value.trim() || undefined,
          level: level(),
          target,
          ...(windowMinutes() ? { windowMinutes: windowMinutes() } : {}),
          count: 10,
        },
      });
      if (!here() || asked !== quietAsked) return;
      box.dataset.held = String(q.villages.length);
      box.innerHTML = piece(
        !q.heldByQuietHours
          ? html`<span>${t('sch.quiet.emergency')}</span>`
          : !q.villages.length
            ? html`<span
                >${t('sch.quiet.none', { n: q.firings, villages: q.targetedVillages })}</span
              >`
            : html`<details ${q.villages.length <= 8 ? raw('open') : ''}>
                <summary class="warn-text">
                  ${t('sch.quiet.some', { n: q.firings, count: q.villages.length })}
                </summary>
                <ul id="s-quiet-villages">
                  ${q.villages.map(
                    (v) =>
                      html`<li data-code="${v.code}" data-never="${v.neverPlayed}">
                        <a href="#/village/${v.code}">${v.name}</a>${t('sch.quiet.village', {
                          town: v.townName,
                          hours: v.quietHours,
                          held: v.held,
                        })}${
                          v.first.playsAt
                            ? t('sch.quiet.later', {
                                time: fmtClock(v.first.playsAt, q.quietTimeZone),
                              })
                            : ''
                        }${v.neverPlayed ? t('sch.quiet.never', { never: v.neverPlayed }) : ''}
                      </li>`,
                  )}
                </ul>
              </details>`,
      );
    } catch (err) {
      if (asked === quietAsked) box.textContent = scheduleErrorText(err);
    }
  }, 300);
  const preview = debounce(async () => {
    if (!here()) return;
    layout();
    previewOk = false;
    const r = rule();
    const list = $('#s-preview');
    if (r.problem) {
      list.innerHTML = piece(html`<li class="error" data-problem>${r.problem}</li>`);
      showQuiet();
      return;
    }
    const zone = $('#s-tz').value.trim();
    try {
      const p = await api(
        `/api/schedules/preview?cron=${encodeURIComponent(r.cron)}&count=10${zone ? `&timeZone=${encodeURIComponent(zone)}` : ''}`,
      );
      if (!here()) return;
      list.innerHTML = piece(p.times.map((x) => html`<li>${fmtZoned(x, p.timeZone)}</li>`));
      $('#s-preview-zone').textContent = t('sch.previewZone', { zone: p.timeZone });
      previewOk = true;
    } catch (err) {
      list.innerHTML = piece(html`<li class="error" data-problem>${scheduleErrorText(err)}</li>`);
    }
    showQuiet();
  }, 300);
  const picker = await targetPicker(
    $('#target'),
    (target) => {
      reachOf.update(target);
      showQuiet();
    },
    { preselect: false },
  );
  const levelChanged = () => {
    $('#s-level-badge').innerHTML = level() ? piece(levelBadge(level())) : '';
    showQuiet();
  };

  const whenChanged = () => {
    layout();
    preview();
  };
  $('#s-when').addEventListener('input', whenChanged);
  $('#s-when').addEventListener('change', whenChanged);
  $('#s-advanced').addEventListener('change', () => {
    if (advanced()) {
      // The advanced field starts from what the picker says.
      const r = pickerToCron(pickerState());
      if (r.cron && !$('#s-cron').value.trim()) $('#s-cron').value = r.cron;
    } else {
      const p = cronToPicker($('#s-cron').value);
      if (p) showPicker(p);
      $('#s-cron').value = '';
    }
  });
  $('#s-tz').addEventListener('input', preview);
  $('#s-level').addEventListener('change', levelChanged);
  $('#s-window').addEventListener('input', showQuiet);

  if (existing) {
    $('#s-name').value = existing.name;
    const p = cronToPicker(existing.cron);
    if (p) showPicker(p);
    else {
      $('#s-advanced').checked = true;
      $('#s-cron').value = existing.cron;
    }
    $('#s-tz').value = existing.timeZone;
    $('#s-title').value = existing.template.title;
    $('#s-level').value = existing.template.level;
    $('#s-window').value = existing.template.windowMinutes ?? '';
    $('#s-enabled').checked = existing.enabled;
    picker.set(existing.template.target);
    reachOf.update(picker.value());
  } else reachOf.update(null);
  levelChanged();
  layout();
  preview();

  const save = async (body) => {
    const button = $('#s-save');
    button.disabled = true;
    try {
      if (existing) {
        // A changed rule restarts the schedule from now; an unchanged one must not skip a firing.
        const patch = { ...body };
        if (patch.cron === existing.cron) delete patch.cron;
        if ((patch.timeZone ?? existing.timeZone) === existing.timeZone) delete patch.timeZone;
        await api(`/api/schedules/${existing.id}`, { method: 'PATCH', body: patch });
      } else await api('/api/schedules', { method: 'POST', body });
      location.hash = '#/schedules';
    } catch (err) {
      $('#form-error').textContent = scheduleErrorText(err);
      button.disabled = false;
    }
  };
  $('#schedule-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = rule();
    const target = picker.value();
    const title = $('#s-title').value.trim();
    const problems = [
      !$('#s-name').value.trim() && t('sch.err.name'),
      r.problem,
      !title && t('sch.err.title'),
      !$('#clip').value && t('sch.err.clip'),
      !level() && t('sch.err.level'),
      !target && t('sch.err.target'),
    ].filter(Boolean);
    $('#form-error').textContent = problems.join('\n');
    if (problems.length) return;
    const body = {
      name: $('#s-name').value.trim(),
      cron: r.cron,
      timeZone: $('#s-tz').value.trim() || undefined,
      enabled: $('#s-enabled').checked,
      template: {
        title,
        clipId: $('#clip').value,
        level: level(),
        target,
        ...(windowMinutes() ? { windowMinutes: windowMinutes() } : {}),
      },
    };
    if (!CONFIRM_SCHEDULE.has(body.template.level)) return void save(body);
    // A level I/II schedule is an emergency sent later without anyone looking: confirm it now,
    // with its reach, as sending one is confirmed.
    const reach = reachOf.value();
    const dialog = openDialog(
      html`<div class="card">
        <h2>${t('sch.confirmTitle')}</h2>
        <p>${levelBadge(body.template.level)}</p>
        <p>
          ${t('sch.confirmText', {
            level: t(`level.${body.template.level}`),
            title,
            rule: describeCron(body.cron) ?? body.cron,
            villages: reach?.villages ?? '?',
            devices: reach?.devices ?? '?',
          })}
        </p>
        <div class="toolbar">
          <button type="button" class="danger" id="confirm-save">${t('sch.confirmGo')}</button>
          <button type="button" id="confirm-back" data-close autofocus>${t('common.back')}</button>
        </div>
      </div>`,
      { id: 'confirm', label: t('sch.confirmTitle') },
    );
    $('#confirm-save', dialog).addEventListener('click', () => {
      dialog.close();
      void save(body);
    });
  });
}

// -- reports --

/** The calendar day of an instant in the county's time zone (report days are the county's days). */
function dayIn(ms, timeZone) {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
}

async function reportsView() {
  show(
    html`<h1>${t('rep.title')}</h1>
      <form id="report-form" class="toolbar card">
        <label>${t('rep.from')} <input type="date" id="r-from" required /></label>
        <label>${t('rep.to')} <input type="date" id="r-to" required /></label>
        <label
          >${t('rep.threshold')}
          <input type="number" id="r-threshold" min="0" max="100" value="90" style="width: 5rem"
        /></label>
        <button class="primary" type="submit">${t('rep.run')}</button>
        <span class="grow"></span>
        <button type="button" id="csv-villages">${t('rep.csvVillages')}</button>
        <button type="button" id="csv-broadcasts">${t('rep.csvBroadcasts')}</button>
        <button type="button" id="xlsx-villages">${t('rep.xlsxVillages')}</button>
        <button type="button" id="xlsx-broadcasts">${t('rep.xlsxBroadcasts')}</button>
        <button type="button" id="print">${t('rep.print')}</button>
      </form>
      <div id="report"></div>`,
  );
  // The first run takes the server's default (the last 30 days up to now), then shows its days.
  const query = () =>
    [
      $('#r-from').value && `from=${$('#r-from').value}`,
      $('#r-to').value && `to=${$('#r-to').value}`,
      `threshold=${(Number($('#r-threshold').value) || 0) / 100}`,
    ]
      .filter(Boolean)
      .join('&');
  const here = stillHere();
  const run = async () => {
    const target = $('#report');
    target.innerHTML = piece(html`<p class="muted">${t('common.loading')}</p>`);
    try {
      const r = await api(`/api/reports/coverage?${query()}`);
      if (!here()) return;
      if (!$('#r-from').value) $('#r-from').value = dayIn(Date.parse(r.from), r.timeZone);
      if (!$('#r-to').value) $('#r-to').value = dayIn(Date.parse(r.to) - 1, r.timeZone);
      const levels = Object.entries(r.broadcasts.byLevel).filter(([, n]) => n > 0);
      const outcomes = Object.entries(r.broadcasts.byOutcome).filter(([, n]) => n > 0);
      const towns = new Map();
      for (const v of r.villages) {
        if (!towns.has(v.townCode)) towns.set(v.townCode, { name: v.townName, villages: [] });
        towns.get(v.townCode).villages.push(v);
      }
      // Per town: what a town head signs off on paper (the print stylesheet keeps this table).
      const townLines = [...towns.entries()].map(([code, town]) => {
        const sum = (f) => town.villages.reduce((n, v) => n + f(v), 0);
        const avail = town.villages.filter((v) => v.availability !== null);
        return {
          code,
          name: town.name,
          villages: town.villages.length,
          targeted: sum((v) => v.targeted),
          covered: sum((v) => v.covered),
          manual: sum((v) => v.coveredManually),
          below: sum((v) => (v.belowThreshold ? 1 : 0)),
          used: sum((v) => (v.used ? 1 : 0)),
          availability: avail.length
            ? avail.reduce((n, v) => n + v.availability, 0) / avail.length
            : null,
        };
      });
      const fromDay = dayIn(Date.parse(r.from), r.timeZone);
      const toDay = dayIn(Date.parse(r.to) - 1, r.timeZone);
      target.innerHTML = piece(
        html`<p class="print-only print-title">
            ${t('rep.printTitle', { from: fromDay, to: toDay })}<br /><small
              >${t('rep.printGenerated', { at: fmtTime(r.generatedAt), zone: r.timeZone })}</small
            >
          </p>
          <div class="cards" id="report-summary" data-usage="${r.usage.rate ?? ''}">
            <div class="stat">
              <div class="v">${r.broadcasts.total}</div>
              <div class="k">${t('rep.broadcasts')}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.coverage.mean)}</div>
              <div class="k">${t('rep.mean')}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.coverage.worst?.rate)}</div>
              <div class="k">
                ${t('rep.worst')}${r.coverage.worst ? html`<br /><a href="#/broadcasts/${r.coverage.worst.id}">${r.coverage.worst.title}</a>` : ''}
              </div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.usage.rate)}</div>
              <div class="k">${t('rep.usage')}: ${r.usage.used}/${r.usage.villages}</div>
            </div>
            <div class="stat">
              <div class="v">${fmtPct(r.availability.mean)}</div>
              <div class="k">${t('rep.availability')}</div>
            </div>
          </div>
          <p class="muted">
            ${t('rep.byLevel')}:
            ${levels.length ? levels.map(([l, n]) => html`${levelBadge(l)} ${n} `) : t('common.none')}
            <br />${t('rep.byOutcome')}:
            ${outcomes.length ? outcomes.map(([o, n]) => `${t(`result.${o}`)} ${n}`).join(' · ') : t('common.none')}
          </p>
          <h2>${t('rep.byTown')}</h2>
          <div class="scroll">
            <table id="report-towns">
              <tr>
                <th>${t('detail.col.town')}</th>
                <th class="num">${t('rep.col.villages')}</th>
                <th class="num">${t('rep.col.targeted')}</th>
                <th class="num">${t('rep.col.covered')}</th>
                <th class="num">${t('rep.col.rate')}</th>
                <th class="num">${t('rep.col.below')}</th>
                <th class="num">${t('rep.col.used')}</th>
                <th class="num">${t('rep.availability')}</th>
              </tr>
              ${townLines.map(
                (x) =>
                  html`<tr data-town="${x.code}">
                    <td>${x.name}</td>
                    <td class="num">${x.villages}</td>
                    <td class="num">${x.targeted}</td>
                    <td class="num">
                      ${x.covered}${x.manual ? html` <small class="muted">(${t('detail.manual')} ${x.manual})</small>` : ''}
                    </td>
                    <td class="num">${fmtPct(x.targeted ? x.covered / x.targeted : null)}</td>
                    <td class="num">${x.below}</td>
                    <td class="num">${x.used}/${x.villages}</td>
                    <td class="num">${fmtPct(x.availability)}</td>
                  </tr>`,
              )}
            </table>
          </div>
          <h2>${t('rep.list')}</h2>
          ${
            r.broadcasts.items.length
              ? html`<div class="scroll">
                  <table id="report-broadcasts">
                    <tr>
                      <th>${t('bc.col.title')}</th>
                      <th>${t('bc.col.level')}</th>
                      <th>${t('rep.col.outcome')}</th>
                      <th class="num">${t('rep.col.rate')}</th>
                      <th class="num">${t('rep.col.firstSound')}</th>
                      <th class="num">${t('rep.col.played')}</th>
                    </tr>
                    ${r.broadcasts.items.map(
                      (b) =>
                        html`<tr data-id="${b.id}">
                          <td><a href="#/broadcasts/${b.id}">${b.title}</a></td>
                          <td>${levelBadge(b.level)}</td>
                          <td>${resultBadges(b)}</td>
                          <td class="num">${fmtPct(b.rate)}</td>
                          <td class="num first-sound">
                            ${b.firstSound.p90Ms === null ? '—' : fmtDuration(b.firstSound.p90Ms)}
                          </td>
                          <td class="num played">
                            ${b.played.p90Ms === null ? '—' : fmtDuration(b.played.p90Ms)}
                          </td>
                        </tr>`,
                    )}
                  </table>
                </div>`
              : ''
          }
          <h2>${t('rep.below')}</h2>
          ${
            r.belowThreshold.length
              ? html`<p id="below">
                  ${r.belowThreshold.map((v) => html`<a class="badge" href="#/village/${v.code}">${v.name} ${fmtPct(v.rate)}</a> `)}
                </p>`
              : html`<p class="ok-text">${t('rep.noneBelow')}</p>`
          }
          <h2 class="chart-title">${t('rep.chart')}</h2>
          <div class="legend">
            <span><i style="background: var(--ok)"></i>${t('rep.chart.rate')}</span
            ><span><i style="background: var(--info)"></i>${t('rep.chart.avail')}</span>
          </div>
          <div class="chart card" id="chart">
            ${[...towns.values()].map(
              (town) =>
                html`<h3>${town.name}</h3>
                  ${town.villages.map(
                    (v) =>
                      html`<div
                        class="line ${v.belowThreshold ? 'below' : ''}"
                        data-code="${v.code}"
                      >
                        <span>${v.name}</span>
                        <span class="bars"
                          ><span
                            class="rate"
                            style="width: ${((v.rate ?? 0) * 100).toFixed(1)}%"
                          ></span
                          ><span
                            class="avail"
                            style="width: ${((v.availability ?? 0) * 100).toFixed(1)}%"
                          ></span
                        ></span>
                        <span class="num">${fmtPct(v.rate)}</span>
                      </div>`,
                  )}`,
            )}
          </div>`,
      );
    } catch (err) {
      target.innerHTML = piece(html`<p class="error" role="alert">${errorText(err)}</p>`);
    }
  };
  $('#report-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });
  $('#csv-villages').addEventListener('click', () =>
    download(`/api/reports/coverage?${query()}&format=csv&lang=${lang()}`).catch((err) =>
      showError(err),
    ),
  );
  for (const table of ['villages', 'broadcasts'])
    $(`#xlsx-${table}`).addEventListener('click', () =>
      download(`/api/reports/coverage?${query()}&format=xlsx&table=${table}&lang=${lang()}`).catch(
        (err) => showError(err),
      ),
    );
  $('#print').addEventListener('click', () => window.print());
  $('#csv-broadcasts').addEventListener('click', () =>
    download(`/api/reports/coverage?${query()}&format=csv&table=broadcasts&lang=${lang()}`).catch(
      (err) => showError(err),
    ),
  );
  await run();
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
