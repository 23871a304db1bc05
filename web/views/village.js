// One village: its quiet hours, its devices with presence and telemetry, its security events,
// its recent broadcasts; operators rotate a device's secret here and get its setup code once.
import { all, api, errorText } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { failuresLine, levelBadge, outcomeText } from '../lib/format.js';
import { $, html, raw, show, view } from '../lib/html.js';
import { canOperate, onLeave } from '../lib/state.js';
import { fmtDuration, fmtTime, hasText, t } from '../i18n.js';

/** Below this charge a battery device (a speaker cart) is shown as low: it may not last a broadcast. */
const LOW_BATTERY_PCT = 20;

export async function villageView(code) {
  const [village, devices, history, board] = await Promise.all([
    api(`/api/villages/${encodeURIComponent(code)}`),
    all(`/api/devices?village=${encodeURIComponent(code)}`),
    api(`/api/villages/${encodeURIComponent(code)}/coverage?limit=10`),
    api(`/api/status/villages?q=${encodeURIComponent(code)}&limit=1`),
  ]);
  const [details, eventLists] = await Promise.all([
    Promise.all(devices.items.map((d) => api(`/api/devices/${encodeURIComponent(d.id)}`))),
    Promise.all(
      devices.items.map((d) =>
        api(`/api/devices/${encodeURIComponent(d.id)}/security-events?limit=20`),
      ),
    ),
  ]);
  const securityEvents = eventLists
    .flat()
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || b.id - a.id)
    .slice(0, 50);
  // With COMMAND_SIGNING=required a device that has not said it verifies is flagged.
  const signingRequired = board.summary?.commandSigning === 'required';
  const operator = canOperate();
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
            <th>${t('village.verifies')}</th>
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
                  ${
                    operator
                      ? html`<br /><button
                            type="button"
                            data-action="provision"
                            data-device="${d.id}"
                          >
                            ${t('village.provision')}
                          </button>`
                      : ''
                  }
                </td>
                <td>
                  ${t(`type.${d.type}`)}${d.typeMismatch ? html`<br /><small class="type-mismatch warn-text">⚠ ${t('village.reportedAs', { type: t(`type.${d.presence.reportedType}`) })}</small>` : ''}
                </td>
                <td>
                  ${!d.enabled ? t('village.disabled') : d.presence?.online ? html`<span class="ok-text">${t('village.online')}</span>` : html`<span class="error">${t('village.offline')}</span>`}
                </td>
                <td class="verifies">${verifiesCell(d, signingRequired)}</td>
                <td>${fmtTime(d.presence?.lastSeenAt)}</td>
                <td class="num volume">${d.presence?.volume ?? '—'}</td>
                <td class="hide-narrow">${d.presence?.firmware ?? '—'}</td>
                <td class="hide-narrow">${telemetry(d.presence)}</td>
              </tr>`,
          )}
        </table>
      </div>
      <h2>${t('village.security')}</h2>
      <p class="muted">${t('village.securityHelp')}</p>
      ${
        securityEvents.length
          ? html`<div class="scroll">
              <table id="village-security">
                <tr>
                  <th>${t('village.sec.time')}</th>
                  <th>${t('village.sec.device')}</th>
                  <th>${t('village.sec.event')}</th>
                  <th class="hide-narrow">${t('village.sec.detail')}</th>
                </tr>
                ${securityEvents.map((e) => {
                  const code = e.kind === 'command_rejected' ? e.reason : e.kind;
                  return html`<tr data-security="${code}">
                    <td>${fmtTime(e.at)}</td>
                    <td>${e.deviceId}</td>
                    <td class="warn-text">
                      ${t('village.securityEvent', { what: hasText(`security.${code}`) ? t(`security.${code}`) : code, code })}
                    </td>
                    <td class="hide-narrow muted">${e.detail ?? ''}</td>
                  </tr>`;
                })}
              </table>
            </div>`
          : html`<p class="muted" id="village-security-none">${t('village.securityNone')}</p>`
      }
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
  // One listener for the page; it goes with the view.
  const onClick = (e) => {
    const button = e.target.closest('[data-action="provision"]');
    if (button && view().contains(button)) provisionDialog(button.dataset.device);
  };
  view().addEventListener('click', onClick);
  onLeave(() => view().removeEventListener('click', onClick));
}

/**
 * Whether a device verifies signed commands: `verifiesSignatures` of the device API (from its hello
 * `verifies`, recorded by the signing module; absent before that module, which reads as "not said").
 */
function verifiesCell(d, signingRequired) {
  if (d.verifiesSignatures === true)
    return html`<span class="ok-text" data-verifies="yes">${t('village.verifiesYes')}</span>`;
  if (signingRequired)
    return html`<span class="warn-text unverified" data-verifies="no"
      >⚠ ${t('village.unverifiedRequired')}</span
    >`;
  return html`<span class="muted" data-verifies="no">${t('village.verifiesNo')}</span>`;
}

/**
 * Rotates a device's secret after a confirmation, then shows the new secret and its setup code
 * (QR of the provisioning bundle) once: neither is kept anywhere, and the server cannot show the
 * secret again.
 */
function provisionDialog(id) {
  const confirm = openDialog(
    html`<form id="provision-confirm-form" class="card">
      <h2>${t('provision.confirmTitle', { id })}</h2>
      <p>${t('provision.confirmText')}</p>
      <p class="error" id="provision-error" role="alert"></p>
      <div class="toolbar">
        <button type="submit" class="danger" id="provision-go">${t('provision.go')}</button>
        <button type="button" data-close autofocus>${t('common.back')}</button>
      </div>
    </form>`,
    { id: 'provision-confirm', label: t('provision.confirmTitle', { id }) },
  );
  $('#provision-confirm-form', confirm).addEventListener('submit', async (e) => {
    e.preventDefault();
    $('#provision-go', confirm).disabled = true;
    let issued;
    try {
      issued = await api(`/api/devices/${encodeURIComponent(id)}/rotate-secret`, {
        method: 'POST',
      });
    } catch (err) {
      $('#provision-error', confirm).textContent = errorText(err);
      $('#provision-go', confirm).disabled = false;
      return;
    }
    confirm.close();
    showBundle(issued.provisioning);
  });
}

function showBundle(bundle) {
  const { qr, ...json } = bundle;
  const dialog = openDialog(
    html`<div class="card provision">
      <h2>${t('provision.title', { id: bundle.deviceId })}</h2>
      <p class="warn-text" role="alert" id="provision-warning">⚠ ${t('provision.warning')}</p>
      <div id="provision-qr" class="qr">
        ${qr ? raw(qr) : html`<p class="muted">${t('provision.noQr')}</p>`}
      </div>
      <dl>
        <dt>${t('provision.secret')}</dt>
        <dd><code id="provision-secret">${bundle.secret}</code></dd>
        <dt>${t('provision.broker')}</dt>
        <dd><code id="provision-broker">${bundle.mqttUrl}</code></dd>
        <dt>${t('provision.signing')}</dt>
        <dd id="provision-signing">${bundle.signing.mode}</dd>
      </dl>
      <div class="toolbar">
        <button type="button" class="primary" id="provision-download">
          ${t('provision.download')}
        </button>
        <button type="button" data-close>${t('provision.close')}</button>
      </div>
    </div>`,
    { id: 'provision-dialog', label: t('provision.title', { id: bundle.deviceId }) },
  );
  $('#provision-download', dialog).addEventListener('click', () => {
    const url = URL.createObjectURL(
      new Blob([`${JSON.stringify(json, null, 2)}\n`], { type: 'application/json' }),
    );
    const a = document.createElement('a');
    a.href = url;
    a.download = `dalaba-provisioning-${bundle.deviceId}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
}
