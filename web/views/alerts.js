// The alerts inbox: every CAP alert received (API, feed or superior platform), what Dalaba did
// with it and why, and for an alert of unknown severity the level an operator picks.
import { api, errorText, showError } from '../lib/api.js';
import { LEVELS } from '../lib/contract.js';
import { levelBadge } from '../lib/format.js';
import { $, html, patchView, raw, show, view } from '../lib/html.js';
import { live } from '../lib/live.js';
import { canOperate, onLeave, stillHere } from '../lib/state.js';
import { throttle } from '../lib/timers.js';
import { fmtTime, hasText, t } from '../i18n.js';

/** What the intake may have done with an alert (src/alerts/alert.entity.ts, ALERT_OUTCOMES). */
const OUTCOMES = [
  'refused',
  'duplicate',
  'recorded',
  'needs_level',
  'drafted',
  'broadcast',
  'cancelled',
  'failed',
];
const SOURCES = ['api', 'feed', 'superior'];

/** A word of our own for a CAP value when we have one; otherwise the value as CAP spells it. */
const capWord = (group, value) =>
  value && hasText(`alert.${group}.${value}`) ? t(`alert.${group}.${value}`) : (value ?? '—');

function outcomeBadge(a) {
  return html`<span class="badge outcome-${a.outcome}" data-outcome="${a.outcome}"
    >${t(`alert.outcome.${a.outcome}`)}</span
  >`;
}

/**
 * Why: a refusal's rule in our words with its code beside it (the code is what the sender's
 * technician looks up), then the server's own words, kept as it wrote them.
 */
function whyText(a) {
  const rule = a.rule && hasText(`alert.rule.${a.rule}`) ? t(`alert.rule.${a.rule}`) : null;
  return html`${rule ? html`<span class="rule-text">${rule}</span> ` : ''}${a.rule ? html`<code class="rule">${a.rule}</code> ` : ''}${a.reason ?? ''}`;
}

/** Where the alert led: its broadcast, or the draft waiting for a person. */
function links(a, prefix = '') {
  return html`${a.broadcastId ? html`<a id="${prefix}broadcast" href="#/broadcasts/${a.broadcastId}">${t('alert.toBroadcast')}</a>` : ''}
  ${a.draftId ? html`<a id="${prefix}draft" href="#/approvals/${a.draftId}">${t('alert.toDraft')}</a>` : ''}`;
}

/** Villages reached: the DTO gives a count (or the list itself). */
const villageCount = (a) =>
  Array.isArray(a.villages) ? a.villages.length : (a.villages ?? a.villageCount ?? null);

function alertRow(a) {
  return html`<tr data-id="${a.id}" data-key="a-${a.id}" data-outcome="${a.outcome}">
    <td class="nowrap">${fmtTime(a.receivedAt)}</td>
    <td>${a.sender ?? '—'}</td>
    <td>
      <a href="#/alerts/${a.id}"
        >${a.headline || a.event || a.identifier || t('alert.noHeadline')}</a
      >
    </td>
    <td>${capWord('status', a.status)} · ${capWord('msgType', a.msgType)}</td>
    <td>${capWord('severity', a.severity)} ${a.level ? html` → ${levelBadge(a.level)}` : ''}</td>
    <td class="outcome">${outcomeBadge(a)}<br /><small class="muted">${whyText(a)}</small></td>
    <td class="links nowrap">${links(a)}</td>
  </tr>`;
}

export async function alertsView() {
  const here = stillHere();
  const filter = { outcome: '', source: '' };
  const load = async ({ background = false } = {}) => {
    const q = new URLSearchParams({ limit: '100' });
    if (filter.outcome) q.set('outcome', filter.outcome);
    if (filter.source) q.set('source', filter.source);
    const page = await api(`/api/alerts?${q}`, { background });
    if (!here()) return;
    patchView(
      html`<h1>${t('alert.title')}</h1>
        <p class="muted">${t('alert.intro')}</p>
        <div class="toolbar">
          <label
            >${t('alert.filter.outcome')}
            <select id="alert-outcome">
              <option value="">${t('alert.filter.all')}</option>
              ${OUTCOMES.map((o) => html`<option value="${o}" ${o === filter.outcome ? raw('selected') : ''}>${t(`alert.outcome.${o}`)}</option>`)}
            </select></label
          >
          <label
            >${t('alert.filter.source')}
            <select id="alert-source">
              <option value="">${t('alert.filter.all')}</option>
              ${SOURCES.map((x) => html`<option value="${x}" ${x === filter.source ? raw('selected') : ''}>${t(`alert.source.${x}`)}</option>`)}
            </select></label
          >
          <span class="muted" id="alerts-total" data-total="${page.total ?? page.items.length}"
            >${t('alert.total', { n: page.total ?? page.items.length })}</span
          >
        </div>
        ${
          page.items.length
            ? html`<div class="scroll">
                <table id="alerts">
                  <thead>
                    <tr>
                      <th>${t('alert.col.received')}</th>
                      <th>${t('alert.col.sender')}</th>
                      <th>${t('alert.col.headline')}</th>
                      <th>${t('alert.col.type')}</th>
                      <th>${t('alert.col.severity')}</th>
                      <th>${t('alert.col.outcome')}</th>
                      <th>${t('alert.col.links')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${page.items.map(alertRow)}
                  </tbody>
                </table>
              </div>`
            : html`<p class="muted" id="alerts-empty">${t('alert.none')}</p>`
        }`,
    );
  };
  const reload = throttle(() => load({ background: true }).catch((err) => console.warn(err)), 1000);
  onLeave(live.on((event) => event === 'alerts' && reload()));
  const onChange = (e) => {
    if (e.target.id !== 'alert-outcome' && e.target.id !== 'alert-source') return;
    filter[e.target.id === 'alert-outcome' ? 'outcome' : 'source'] = e.target.value;
    void load().catch((err) => showError(err));
  };
  // #view outlives this page: the handler goes when the page does.
  view().addEventListener('change', onChange);
  onLeave(() => view().removeEventListener('change', onChange));
  try {
    await load();
  } catch (err) {
    // The page keeps its heading: the nav still leads somewhere that says what went wrong.
    show(html`<h1>${t('alert.title')}</h1>`);
    showError(err);
  }
}

export async function alertView(id) {
  const here = stillHere();
  const load = async ({ background = false } = {}) => {
    const a = await api(`/api/alerts/${encodeURIComponent(id)}`, { background });
    if (!here()) return null;
    const n = villageCount(a);
    const picking = a.outcome === 'needs_level' && canOperate();
    patchView(
      html`<p><a href="#/alerts">← ${t('alert.title')}</a></p>
        <h1 id="alert-title">
          ${a.headline || a.event || a.identifier || t('alert.noHeadline')}
          ${a.level ? levelBadge(a.level) : ''}
        </h1>
        <p id="alert-outcome" data-outcome="${a.outcome}" role="status">
          ${outcomeBadge(a)} ${whyText(a)} ${links(a, 'alert-')}
        </p>
        ${
          picking
            ? html`<form id="level-form" class="card">
                <h2>${t('alert.pick.title')}</h2>
                <p class="muted">${t('alert.pick.intro')}</p>
                <p>
                  <select id="pick-level" required data-key="pick-level">
                    <option value="">${t('level.pick')}</option>
                    ${LEVELS.map((l) => html`<option value="${l}">${t(`level.${l}`)}</option>`)}
                  </select>
                  <button type="submit" class="primary" id="pick-submit">
                    ${t('alert.pick.submit')}
                  </button>
                </p>
                <p class="error" id="pick-error" role="alert"></p>
              </form>`
            : ''
        }
        <section class="card">
          <dl class="facts">
            <dt>${t('alert.col.received')}</dt>
            <dd>${fmtTime(a.receivedAt)} · ${t(`alert.source.${a.source}`)}</dd>
            <dt>${t('alert.col.sender')}</dt>
            <dd id="alert-sender">${a.sender ?? '—'}</dd>
            <dt>${t('alert.identifier')}</dt>
            <dd><code>${a.identifier ?? '—'}</code> · ${a.sent ?? ''}</dd>
            <dt>${t('alert.col.type')}</dt>
            <dd>${capWord('status', a.status)} · ${capWord('msgType', a.msgType)}</dd>
            <dt>${t('alert.event')}</dt>
            <dd>
              ${a.event ?? '—'}${a.language ? html` <small class="muted">(${a.language})</small>` : ''}
            </dd>
            <dt>${t('alert.col.severity')}</dt>
            <dd>
              ${capWord('severity', a.severity)} · ${capWord('urgency', a.urgency)} ·
              ${capWord('certainty', a.certainty)}
            </dd>
            <dt>${t('new.level')}</dt>
            <dd id="alert-level">${a.level ? levelBadge(a.level) : '—'}</dd>
            <dt>${t('alert.villages')}</dt>
            <dd id="alert-villages">${n === null ? '—' : t('alert.villagesN', { n })}</dd>
            <dt>${t('alert.signature')}</dt>
            <dd id="alert-signature" data-signature="${a.signature ?? ''}">
              ${a.signature ? t(`alert.sig.${a.signature}`) : '—'}${a.signer ? html` · ${a.signer}` : ''}
            </dd>
          </dl>
        </section>
        <details class="card" open>
          <summary>${t('alert.xml')}</summary>
          <pre id="alert-xml" class="xml">${a.xml ?? ''}</pre>
        </details>`,
    );
    return a;
  };
  const a = await load();
  if (!a) return;
  onLeave(
    live.on(
      (event, data) =>
        event === 'alerts' &&
        (!data?.id || data.id === id || (data.changed ?? []).includes(id)) &&
        void load({ background: true }).catch((err) => console.warn(err)),
    ),
  );
  const onSubmit = async (e) => {
    if (e.target.id !== 'level-form') return;
    e.preventDefault();
    const button = $('#pick-submit');
    button.disabled = true;
    try {
      await api(`/api/alerts/${encodeURIComponent(id)}/broadcast`, {
        method: 'POST',
        body: { level: $('#pick-level').value },
      });
      await load();
    } catch (err) {
      $('#pick-error').textContent = errorText(err);
      button.disabled = false;
    }
  };
  view().addEventListener('submit', onSubmit);
  onLeave(() => view().removeEventListener('submit', onSubmit));
}
