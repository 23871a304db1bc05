// Drafts waiting for a second person: the queue, and one draft with everything the approver
// needs to decide (the clip to listen to, the level, whom it reaches, when) and the decision.
import { api, errorText, showError } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { describeCron } from '../lib/cron.js';
import { levelBadge } from '../lib/format.js';
import { $, html, patchView, show, view } from '../lib/html.js';
import { live } from '../lib/live.js';
import { onLeave, stillHere } from '../lib/state.js';
import { fmtTime, hasText, t } from '../i18n.js';

const who = (x) => (x && typeof x === 'object' ? (x.name ?? x.displayName ?? x.username) : x);
/** Why this person may not approve: our words, then the server's (English) reason. */
const whyNotText = (why) =>
  why && hasText(`err.${why}`) ? t(`err.${why}`) : `${t('appr.notYours')} ${why ?? ''}`.trim();

/** Whom a target names, in words: the approver sees the places, not only the counts. */
function targetText(target) {
  if (!target) return '—';
  if (target.all) return t('new.target.all');
  const parts = [];
  if (target.towns?.length) parts.push(`${t('new.target.towns')}：${target.towns.join('、')}`);
  if (target.villages?.length)
    parts.push(`${t('new.target.villages')}：${target.villages.join('、')}`);
  if (target.devices?.length) parts.push(`${t('appr.devices')}：${target.devices.join('、')}`);
  if (target.deviceTypes?.length)
    parts.push(target.deviceTypes.map((type) => t(`type.${type}`)).join('、'));
  return parts.join('；') || '—';
}

export async function approvalsView() {
  const here = stillHere();
  const load = async ({ background = false } = {}) => {
    const page = await api('/api/drafts?status=pending&limit=200', { background });
    if (!here()) return;
    patchView(
      html`<h1>${t('appr.title')}</h1>
        <p class="muted">${t('appr.intro')}</p>
        ${
          page.items.length === 0
            ? html`<p class="muted" id="drafts-empty">${t('appr.none')}</p>`
            : html`<div class="scroll">
                <table id="drafts">
                  <thead>
                    <tr>
                      <th>${t('appr.col.title')}</th>
                      <th>${t('new.level')}</th>
                      <th>${t('appr.col.kind')}</th>
                      <th>${t('appr.col.by')}</th>
                      <th>${t('appr.col.at')}</th>
                      <th>${t('appr.col.expires')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${page.items.map(
                      (d) =>
                        html`<tr data-id="${d.id}" data-key="${d.id}">
                          <td><a href="#/approvals/${d.id}">${d.title}</a></td>
                          <td>${levelBadge(d.level)}</td>
                          <td>${t(`appr.kind.${d.kind}`)}</td>
                          <td>${who(d.draftedBy)}</td>
                          <td>${fmtTime(d.createdAt)}</td>
                          <td>${fmtTime(d.expiresAt)}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }`,
    );
  };
  onLeave(
    live.on(
      (event) =>
        event === 'drafts' && void load({ background: true }).catch((err) => showError(err)),
    ),
  );
  try {
    await load();
  } catch (err) {
    // The page keeps its heading: the nav still leads somewhere that says what went wrong.
    show(html`<h1>${t('appr.title')}</h1>`);
    showError(err);
  }
}

export async function draftView(id) {
  const here = stillHere();
  // The clip's blob URL goes into the markup: a live redraw must not drop the player's source.
  let audioUrl = null;
  const load = async ({ background = false } = {}) => {
    const d = await api(`/api/drafts/${encodeURIComponent(id)}`, { background });
    if (!here()) return null;
    // A broadcast's payload is the broadcast; a schedule's holds its template.
    const p = d.payload?.template ?? d.payload ?? {};
    const open = d.status === 'pending';
    patchView(
      html`<p><a href="#/approvals">← ${t('appr.title')}</a></p>
        <h1 id="draft-title">${d.title} ${levelBadge(d.level)}</h1>
        <p id="draft-status" data-status="${d.status}" role="status">
          ${t(`appr.status.${d.status}`)}
          ${d.decidedBy ? html` · ${who(d.decidedBy)} ${fmtTime(d.decidedAt)}` : ''}
          ${d.reason ? html` · ${d.reason}` : ''}
          ${
            d.resultId && d.kind === 'broadcast'
              ? html` ·
                  <a id="draft-result" href="#/broadcasts/${d.resultId}">${t('appr.result')}</a>`
              : ''
          }
        </p>
        <section class="card">
          <dl class="facts">
            <dt>${t('appr.col.kind')}</dt>
            <dd>${t(`appr.kind.${d.kind}`)}</dd>
            <dt>${t('appr.col.by')}</dt>
            <dd id="draft-by">${who(d.draftedBy)} · ${fmtTime(d.createdAt)}</dd>
            <dt>${t('new.clip')}</dt>
            <dd>
              ${d.clip?.name ?? '—'}
              <audio
                id="draft-audio"
                controls
                preload="auto"
                ${audioUrl ? html`src="${audioUrl}"` : ''}
              ></audio>
            </dd>
            <dt>${t('new.target')}</dt>
            <dd id="draft-target">${targetText(p.target)}</dd>
            ${
              d.kind !== 'broadcast' && d.payload?.cron
                ? html`<dt>${t('sch.cron')}</dt>
                    <dd id="draft-rule">
                      ${describeCron(d.payload.cron) ?? d.payload.cron}
                      ${d.payload.timeZone ? html` · ${t('sch.tz')} ${d.payload.timeZone}` : ''}
                    </dd>`
                : ''
            }
            <dt>${t('appr.reach')}</dt>
            <dd
              id="draft-reach"
              data-villages="${d.reach?.villages ?? ''}"
              data-devices="${d.reach?.devices ?? ''}"
              data-online="${d.reach?.online ?? ''}"
            >
              ${d.reach ? t('appr.reachText', d.reach) : '—'}
            </dd>
            <dt>${t('new.start')}</dt>
            <dd id="draft-start">${p.startAt ? fmtTime(p.startAt) : t('appr.startNow')}</dd>
            <dt>${t('new.expires')}</dt>
            <dd>${p.expiresAt ? fmtTime(p.expiresAt) : '—'}</dd>
            <dt>${t('appr.deadline')}</dt>
            <dd id="draft-expires">${fmtTime(d.expiresAt)}</dd>
          </dl>
        </section>
        ${
          open
            ? html`<div class="toolbar" id="decide">
                  <button
                    type="button"
                    class="danger"
                    id="approve"
                    ${d.mayApprove ? '' : html`disabled`}
                    title="${whyNotText(d.whyNot)}"
                  >
                    ${t('appr.approve')}
                  </button>
                  <button type="button" id="reject" ${d.mayApprove ? '' : html`disabled`}>
                    ${t('appr.reject')}
                  </button>
                  ${
                    d.mayWithdraw
                      ? html`<button type="button" id="withdraw">${t('appr.withdraw')}</button>`
                      : ''
                  }
                </div>
                ${
                  d.mayApprove
                    ? ''
                    : html`<p class="muted" id="why-not">
                        ${whyNotText(d.whyNot) || t('appr.notYours')}
                      </p>`
                }`
            : ''
        }`,
    );
    return d;
  };
  const d = await load();
  if (!d) return;
  if (d.clip?.id) {
    try {
      const res = await api(`/api/clips/${d.clip.id}/audio`, { raw: true });
      audioUrl = URL.createObjectURL(await res.blob());
      if (!here()) return URL.revokeObjectURL(audioUrl);
      $('#draft-audio').src = audioUrl;
      onLeave(() => URL.revokeObjectURL(audioUrl));
    } catch (err) {
      showError(err);
    }
  }
  onLeave(
    live.on(
      (event, data) =>
        event === 'drafts' &&
        (data.changed ?? []).includes(id) &&
        void load({ background: true }).catch((err) => showError(err)),
    ),
  );
  const onClick = async (e) => {
    const button = e.target.closest('button');
    if (!button || button.disabled) return;
    if (button.id === 'approve') {
      button.disabled = true;
      try {
        const r = await api(`/api/drafts/${id}/approve`, { method: 'POST' });
        if (r.broadcast) location.hash = `#/broadcasts/${r.broadcast.id}`;
        else if (r.schedule) location.hash = `#/schedules/${r.schedule.id}`;
        else await load();
      } catch (err) {
        button.disabled = false;
        showError(err);
      }
    } else if (button.id === 'reject') rejectDialog(id, load);
    else if (button.id === 'withdraw') {
      try {
        await api(`/api/drafts/${id}/withdraw`, { method: 'POST' });
        await load();
      } catch (err) {
        showError(err);
      }
    }
  };
  // #view outlives this page: the handler goes when the page does.
  view().addEventListener('click', onClick);
  onLeave(() => view().removeEventListener('click', onClick));
}

function rejectDialog(id, reload) {
  const dialog = openDialog(
    html`<form class="card" id="reject-form">
      <h2>${t('appr.reject')}</h2>
      <p>
        <label
          >${t('appr.rejectReason')}<br /><textarea
            id="reject-reason"
            required
            minlength="5"
            maxlength="500"
            rows="3"
            style="width: 100%"
          ></textarea>
        </label>
      </p>
      <p class="error" id="reject-error" role="alert"></p>
      <div class="toolbar">
        <button type="submit" class="danger" id="reject-go">${t('appr.reject')}</button>
        <button type="button" data-close>${t('common.back')}</button>
      </div>
    </form>`,
    { id: 'reject-dialog', label: t('appr.reject') },
  );
  $('#reject-form', dialog).addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api(`/api/drafts/${id}/reject`, {
        method: 'POST',
        body: { reason: $('#reject-reason', dialog).value.trim() },
      });
      dialog.close();
      await reload();
    } catch (err) {
      $('#reject-error', dialog).textContent = errorText(err);
    }
  });
}
