// One broadcast: coverage, uncovered villages, milestones, manual confirmations; live, in place.
import { api, download, errorText, showError } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { failuresLine, levelBadge, progressBar, resultBadges, toIso } from '../lib/format.js';
import { $, html, patchView, view } from '../lib/html.js';
import { live } from '../lib/live.js';
import { resendUncovered } from '../lib/resend.js';
import { canOperate, canSend, isCounty, onLeave, session, stillHere } from '../lib/state.js';
import { throttle } from '../lib/timers.js';
import { fmtDuration, fmtPct, fmtTime, lang, t } from '../i18n.js';

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

/** Who approved it, or that it went out by emergency override (flagged, with the reason). */
function approvalLine(a) {
  if (!a) return '';
  return html`<p
    class="notice approval-${a.mode}"
    id="bc-approval"
    data-mode="${a.mode}"
    role="status"
  >
    <span class="badge ${a.mode === 'override' ? 'level-I' : 'status-completed'}"
      >${t(`detail.approval.${a.mode}`)}</span
    >
    ${
      a.mode === 'override'
        ? t('detail.overrideText', { by: a.by ?? '', at: fmtTime(a.at), reason: a.reason ?? '' })
        : t('detail.approvedText', { by: a.by ?? '', at: fmtTime(a.at) })
    }
  </p>`;
}

export async function broadcastView(id) {
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
    const canConfirm = canSend() && b.dispatchedAt && !cancelled;
    const ended = endText(b);
    const toResend = c.villages.filter((v) => v.resendable).length; // the server's rule, per village
    return html`<p><a href="#/broadcasts">← ${t('nav.broadcasts')}</a></p>
      <div class="toolbar">
        <h1 class="grow" id="bc-title">${b.title} ${levelBadge(b.level)} ${resultBadges(b)}</h1>
        <button type="button" id="csv" data-action="csv">${t('common.csv')}</button>
        <button type="button" id="xlsx" data-action="xlsx">${t('common.xlsx')}</button>
        ${
          isCounty()
            ? html`<button
                type="button"
                id="certificate"
                data-action="certificate"
                title="docs/certificates.md"
              >
                ${t('detail.certificate')}
              </button>`
            : ''
        }
        ${canOperate() && toResend ? html`<button type="button" class="danger" id="resend" data-action="resend" data-villages="${toResend}">${t('board.resend')} (${toResend})</button>` : ''}
        ${canSend() && open ? html`<button type="button" class="danger" id="cancel" data-action="cancel">${t('detail.cancel')}</button>` : ''}
      </div>
      ${approvalLine(b.approval)}
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
      <p
        class="muted"
        id="bc-evidence"
        title="${c.evidence?.hash ?? ''}"
        data-seq="${c.evidence?.seq ?? ''}"
      >
        ${
          /* Always there, empty before the first entry: a paragraph appearing mid-page would shift
          what the live update pairs below it. */
          c.evidence
            ? t('detail.evidence', { seq: c.evidence.seq, hash: c.evidence.hash.slice(0, 12) })
            : ''
        }
      </p>
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
  const load = async ({ background = false } = {}) => {
    const [b, c, confirmations] = await Promise.all([
      api(`/api/broadcasts/${encodeURIComponent(id)}`, { background }),
      api(`/api/broadcasts/${encodeURIComponent(id)}/coverage`, { background }),
      api(`/api/broadcasts/${encodeURIComponent(id)}/confirmations`, { background }),
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
    else if (action === 'certificate')
      download(`/api/broadcasts/${id}/certificate`, `certificate-${id}.json`).catch((err) =>
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
  const refresh = throttle(
    () => load({ background: true }).catch((err) => console.warn(err)),
    1000,
  );
  onLeave(
    live.on(
      (event, data) => event === 'update' && data.broadcasts.some((b) => b.id === id) && refresh(),
    ),
  );
  await load();
}
