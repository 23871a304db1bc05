// One village: its quiet hours, its devices with presence and telemetry, its recent broadcasts.
import { all, api } from '../lib/api.js';
import { failuresLine, levelBadge, outcomeText } from '../lib/format.js';
import { html, show } from '../lib/html.js';
import { fmtDuration, fmtTime, t } from '../i18n.js';

/** Below this charge a battery device (a speaker cart) is shown as low: it may not last a broadcast. */
const LOW_BATTERY_PCT = 20;

export async function villageView(code) {
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
