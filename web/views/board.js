// The village board (村级看板): the villages as tiles by town, live.
import { all } from '../lib/api.js';
import { levelBadge, failuresLine, outcomeText, statusBadge } from '../lib/format.js';
import { $, html, patchInto, piece, show } from '../lib/html.js';
import { live } from '../lib/live.js';
import { resendUncovered } from '../lib/resend.js';
import { canOperate, onLeave, stillHere } from '../lib/state.js';
import { throttle } from '../lib/timers.js';
import { t } from '../i18n.js';

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

export async function boardView() {
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
      html`${t('board.summary', { villages: s.villages, online: s.devicesOnline, total: s.devicesTotal, ok: s.villagesOk })}${s.typeMismatches ? html` · <span class="warn-text">${t('board.typeMismatches', { n: s.typeMismatches })}</span>` : ''}${s.securityEvents ? html` · <span class="warn-text" id="board-security" data-count="${s.securityEvents}">${t('board.securityAll', { n: s.securityEvents })}</span>` : ''}`,
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
          (v) => v.latestBroadcast?.id === latest.id && v.latestBroadcast.resendable,
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
            ${canOperate() && toResend ? html`<button type="button" class="danger" id="resend">${t('board.resend')}</button>` : ''}
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
                        ${v.securityEvents ? html`<span class="security-events" data-count="${v.securityEvents}">${t('board.security', { n: v.securityEvents })}</span>` : ''}
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
  const load = async ({ background = false } = {}) => {
    const next = await all('/api/status/villages', { background });
    if (!here()) return;
    board = next;
    render();
  };
  // A refetch on a live update is not use: the session may still time out while the board is open.
  const refresh = throttle(
    () => load({ background: true }).catch((err) => console.warn(err)),
    1000,
  );
  onLeave(live.on((event) => event === 'update' && refresh()));
  await load();
}
