// 上级平台, the admin's page for the link to the superior (city or provincial) platform
// (docs/superior.md): whether it is on and answering, what the station signs with, and the
// packages exchanged both ways, with what waits, what failed and why. The server sends no live
// event for the link, so the page asks again every few seconds while it is open.
import { api, showError } from '../lib/api.js';
import { html, patchView, raw, show, view } from '../lib/html.js';
import { isAdmin, onLeave, stillHere } from '../lib/state.js';
import { every } from '../lib/timers.js';
import { fmtTime, hasText, t } from '../i18n.js';

/** src/superior/superior-package.entity.ts: PACKAGE_DIRECTIONS, PACKAGE_STATUSES. */
const DIRECTIONS = ['out', 'in'];
const STATUSES = ['pending', 'sent', 'failed', 'received', 'refused'];
/** Packages shown at first, and added by 更多 (the API gives at most 500 at once). */
const PAGE = 50;
const MAX_LIMIT = 500;
const REFRESH_MS = 10_000;

/** A package type (EBDType) in words where we have them, with the type as the standard names it. */
const typeText = (type) =>
  hasText(`sup.type.${type}`)
    ? html`${t(`sup.type.${type}`)} <small class="muted">${type}</small>`
    : type;

/** The receipt's ResultCode in words (src/superior/ebd-package.ts, RESULT_CODES). */
const resultText = (code) =>
  code === null || code === undefined
    ? '—'
    : `${code} ${hasText(`sup.result.${code}`) ? t(`sup.result.${code}`) : ''}`.trim();

/**
 * What the package is about: the broadcast whose state it reports or is asked about, the alert
 * an EBM from above became (each linked to its page), the data a query asks for, or the devices
 * whose states it carries.
 */
function subjectCell(p) {
  if (!p.subject) return '—';
  if (p.type === 'EBMStateResponse' || (p.direction === 'in' && p.type === 'EBMStateRequest'))
    return html`<a class="subject" href="#/broadcasts/${encodeURIComponent(p.subject)}"
      >${t('sup.subject.broadcast')}</a
    >`;
  if (p.direction === 'in' && p.type === 'EBM')
    return html`<a class="subject" href="#/alerts/${encodeURIComponent(p.subject)}"
      >${t('sup.subject.alert')}</a
    >`;
  // A query from above and the report answering it name what was asked (EBRDTState, EBMBrdLog).
  if (hasText(`sup.type.${p.subject}`)) return typeText(p.subject);
  const many = /^(\d+) devices$/.exec(p.subject);
  if (many) return t('sup.subject.devices', { n: many[1] });
  return html`${t('sup.subject.device')} <code>${p.subject}</code>`;
}

function statusBadge(status) {
  const tone = { sent: 'ok', received: 'ok', failed: 'bad', refused: 'bad', pending: 'wait' }[
    status
  ];
  return html`<span class="badge sup-${tone ?? 'other'}" data-status="${status}"
    >${hasText(`sup.status.${status}`) ? t(`sup.status.${status}`) : status}</span
  >`;
}

function packageRow(p) {
  return html`<tr
    data-id="${p.id}"
    data-key="p-${p.id}"
    data-status="${p.status}"
    data-direction="${p.direction}"
    data-type="${p.type}"
  >
    <td class="nowrap">
      ${fmtTime(p.createdAt)}
      ${p.updatedAt !== p.createdAt ? html`<br /><small class="muted">${t('sup.updated', { at: fmtTime(p.updatedAt) })}</small>` : ''}
    </td>
    <td class="nowrap">${t(`sup.direction.${p.direction}`)}</td>
    <td>${typeText(p.type)}</td>
    <td class="ebd"><code>${p.ebdId}</code></td>
    <td class="nowrap">${subjectCell(p)}</td>
    <td class="status">
      ${statusBadge(p.status)}
      ${p.status === 'pending' && p.nextAttemptAt ? html`<br /><small class="muted">${t('sup.next', { at: fmtTime(p.nextAttemptAt) })}</small>` : ''}
    </td>
    <td class="num attempts">${p.attempts}</td>
    <td class="result nowrap">
      ${resultText(p.resultCode)}
      ${
        p.receipt
          ? html`<details>
              <summary>${t('sup.receipt')}</summary>
              <pre class="xml">${p.receipt}</pre>
            </details>`
          : ''
      }
    </td>
    <td class="last-error">
      ${p.lastError ? html`<span class="error">${p.lastError}</span>` : '—'}
    </td>
  </tr>`;
}

/** The link in words: off (and how to turn it on), or on and answering, backing off, or unable to sign. */
function statusSection(st) {
  if (!st.enabled)
    return html`<section class="card" id="sup-link" data-enabled="false">
      <p><span class="badge" data-state="off">${t('sup.off')}</span></p>
      <p class="muted" id="sup-howto">${t('sup.off.howto')}</p>
    </section>`;
  const state = st.keyProblem ? 'key' : st.up ? 'up' : 'down';
  const stateBadge = {
    up: html`<span class="badge sup-ok" data-state="up">${t('sup.up')}</span>`,
    down: html`<span class="badge sup-bad" data-state="down">${t('sup.down')}</span>`,
    key: html`<span class="badge sup-bad" data-state="key">${t('sup.keyProblem')}</span>`,
  }[state];
  const heartbeat =
    st.lastHeartbeatAt === null
      ? t('sup.heartbeat.none')
      : `${fmtTime(st.lastHeartbeatAt)} · ${t(st.lastHeartbeatOk ? 'sup.heartbeat.ok' : 'sup.heartbeat.failed')}`;
  return html`<section class="card" id="sup-link" data-enabled="true" data-state="${state}">
    <dl class="facts">
      <dt>${t('sup.state')}</dt>
      <dd id="sup-state">
        ${stateBadge}
        ${st.retryAt && !st.up ? html` <small class="muted">${t('sup.retryAt', { at: fmtTime(st.retryAt) })}</small>` : ''}
        ${st.keyProblem ? html`<br /><span class="error" id="sup-key-problem">${st.keyProblem}</span>` : ''}
        ${st.lastError && !st.up ? html`<br /><span class="error" id="sup-last-error">${st.lastError}</span>` : ''}
      </dd>
      <dt>${t('sup.heartbeat')}</dt>
      <dd id="sup-heartbeat" data-ok="${String(st.lastHeartbeatOk)}">${heartbeat}</dd>
      <dt>${t('sup.counts')}</dt>
      <dd id="sup-counts" data-pending="${st.pending}" data-failed="${st.failed ?? 0}">
        ${t('sup.pending', { n: st.pending })} ·
        <span class="${st.failed ? 'error' : ''}">${t('sup.failed', { n: st.failed ?? 0 })}</span>
        · ${t('sup.refusedInbound', { n: st.refusedInbound })}
      </dd>
      <dt>${t('sup.url')}</dt>
      <dd><code id="sup-url">${st.url}</code></dd>
      <dt>${t('sup.ebrId')}</dt>
      <dd><code id="sup-ebr">${st.ebrId}</code></dd>
      <dt>${t('sup.superiorEbrId')}</dt>
      <dd><code id="sup-superior-ebr">${st.superiorEbrId}</code></dd>
      <dt>${t('sup.signature')}</dt>
      <dd id="sup-signature" data-signature="${st.signature}">
        ${t(`sup.signature.${st.signature}`)}
        ${st.kid ? html` · ${t('sup.kid')} <code>${st.kid}</code>` : ''}
      </dd>
      <dt>${t('sup.publicKey')}</dt>
      <dd><code class="sup-key" id="sup-public-key">${st.publicKey ?? '—'}</code></dd>
    </dl>
    <p class="muted">${t('sup.publicKey.hint')}</p>
  </section>`;
}

export async function superiorView() {
  if (!isAdmin()) {
    show(
      html`<h1>${t('sup.title')}</h1>
        <p class="error" role="alert">${t('common.forbidden')}</p>`,
    );
    return;
  }
  const here = stillHere();
  const filter = { direction: '', status: '' };
  let limit = PAGE;
  // The answer of the latest request only: a slow refresh must not draw over a newer filter.
  let asked = 0;
  const load = async ({ background = false } = {}) => {
    const mine = ++asked;
    const q = new URLSearchParams({ limit: String(limit) });
    if (filter.direction) q.set('direction', filter.direction);
    if (filter.status) q.set('status', filter.status);
    const [st, page] = await Promise.all([
      api('/api/superior/status', { background }),
      api(`/api/superior/packages?${q}`, { background }),
    ]);
    if (!here() || mine !== asked) return;
    patchView(
      html`<h1>${t('sup.title')}</h1>
        <p class="muted">${t('sup.intro')}</p>
        ${statusSection(st)}
        <h2>${t('sup.packages')}</h2>
        <p class="muted">${t('sup.packages.intro')}</p>
        <div class="toolbar">
          <label
            >${t('sup.filter.direction')}
            <select id="sup-direction">
              <option value="">${t('alert.filter.all')}</option>
              ${DIRECTIONS.map((d) => html`<option value="${d}" ${d === filter.direction ? raw('selected') : ''}>${t(`sup.direction.${d}`)}</option>`)}
            </select></label
          >
          <label
            >${t('sup.filter.status')}
            <select id="sup-status">
              <option value="">${t('alert.filter.all')}</option>
              ${STATUSES.map((x) => html`<option value="${x}" ${x === filter.status ? raw('selected') : ''}>${t(`sup.status.${x}`)}</option>`)}
            </select></label
          >
          <span
            class="muted"
            id="sup-total"
            data-total="${page.total}"
            data-shown="${page.items.length}"
            >${t('sup.total', { n: page.total, shown: page.items.length })}</span
          >
        </div>
        ${
          page.items.length
            ? html`<div class="scroll">
                <table id="sup-packages">
                  <thead>
                    <tr>
                      <th>${t('sup.col.time')}</th>
                      <th>${t('sup.col.direction')}</th>
                      <th>${t('sup.col.type')}</th>
                      <th>EBDID</th>
                      <th>${t('sup.col.subject')}</th>
                      <th>${t('sup.col.status')}</th>
                      <th class="num">${t('sup.col.attempts')}</th>
                      <th>${t('sup.col.result')}</th>
                      <th>${t('sup.col.error')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${page.items.map(packageRow)}
                  </tbody>
                </table>
              </div>`
            : html`<p class="muted" id="sup-empty">${t('sup.none')}</p>`
        }
        ${
          page.items.length < page.total && limit < MAX_LIMIT
            ? html`<p><button type="button" id="sup-more">${t('sup.more')}</button></p>`
            : ''
        }`,
    );
  };
  // Not counted as use of the session: a page left open still times out when idle.
  every(() => void load({ background: true }).catch((err) => console.warn(err)), REFRESH_MS);
  const onChange = (e) => {
    if (e.target.id !== 'sup-direction' && e.target.id !== 'sup-status') return;
    filter[e.target.id === 'sup-direction' ? 'direction' : 'status'] = e.target.value;
    limit = PAGE;
    void load().catch((err) => showError(err));
  };
  const onClick = (e) => {
    if (e.target.id !== 'sup-more') return;
    e.target.disabled = true;
    limit = Math.min(MAX_LIMIT, limit + PAGE);
    void load().catch((err) => showError(err));
  };
  // #view outlives this page: the handlers go when the page does.
  view().addEventListener('change', onChange);
  view().addEventListener('click', onClick);
  onLeave(() => {
    view().removeEventListener('change', onChange);
    view().removeEventListener('click', onClick);
  });
  try {
    await load();
  } catch (err) {
    // The page keeps its heading: the nav still leads somewhere that says what went wrong.
    show(html`<h1>${t('sup.title')}</h1>`);
    showError(err);
  }
}
