// 预警接入, the admin's page for where alerts come from: the senders the station knows (whether a
// signature is required, whose certificates sign, which severities go out without a person) and
// the CAP feeds it polls (address, interval, state, poll now).
import { api, errorText, showError } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { $, $$, html, raw, show } from '../lib/html.js';
import { isAdmin } from '../lib/state.js';
import { fmtTime, hasText, t } from '../i18n.js';

const POLICIES = ['require_signature', 'accept_unsigned', 'refuse'];
const SEVERITIES = ['Extreme', 'Severe', 'Moderate', 'Minor'];
/** A CAP severity in our words where we have them (Chinese), else as CAP spells it. */
const severityWord = (v) => (hasText(`alert.severity.${v}`) ? t(`alert.severity.${v}`) : v);

/** A list answer, paged or bare. */
const itemsOf = (x) => (Array.isArray(x) ? x : (x?.items ?? []));
/** Whose certificate, in one line (the server shows its subject, never the PEM it keeps). */
const certName = (c) =>
  typeof c === 'string' ? t('intake.cert') : (c?.subject ?? c?.fingerprint256 ?? t('intake.cert'));
/** PEM blocks pasted one after another, each kept whole with its armour lines. */
const splitPems = (text) =>
  text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];

/** A feed's state in words: polling well, failing (with the last error), or off. */
function feedState(f) {
  if (!f.enabled) return html`<span class="badge" data-state="off">${t('intake.feed.off')}</span>`;
  if (f.failures > 0)
    return html`<span class="badge result-failed" data-state="failing"
        >${t('intake.feed.failing', { n: f.failures })}</span
      ><br /><small class="muted">${f.lastError ?? ''}</small>`;
  return html`<span class="badge result-completed" data-state="ok">${t('intake.feed.ok')}</span>`;
}

export async function alertIntakeView() {
  if (!isAdmin()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  let senders, feeds;
  try {
    [senders, feeds] = await Promise.all([
      api('/api/alert-senders').then(itemsOf),
      api('/api/alert-feeds').then(itemsOf),
    ]);
  } catch (err) {
    // The page keeps its heading: the nav still leads somewhere that says what went wrong.
    show(html`<h1>${t('intake.title')}</h1>`);
    return showError(err);
  }
  show(
    html`<h1>${t('intake.title')}</h1>
      <div id="intake">
        <p class="muted">${t('intake.intro')}</p>
        <h2>${t('intake.senders')}</h2>
        <p class="muted">${t('intake.senders.intro')}</p>
        ${
          senders.length
            ? html`<div class="scroll">
                <table id="senders">
                  <thead>
                    <tr>
                      <th>${t('intake.sender')}</th>
                      <th>${t('intake.name')}</th>
                      <th>${t('intake.policy')}</th>
                      <th>${t('intake.certsShort')}</th>
                      <th>${t('intake.auto')}</th>
                      <th>${t('intake.updated')}</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${senders.map(
                      (x) =>
                        html`<tr data-sender="${x.sender}">
                          <td><code>${x.sender}</code></td>
                          <td>${x.name}</td>
                          <td class="policy" data-policy="${x.policy}">
                            ${t(`intake.policy.${x.policy}`)}
                          </td>
                          <td>${(x.certificates ?? []).map(certName).join('；') || '—'}</td>
                          <td class="auto">
                            ${(x.autoSeverities ?? []).map(severityWord).join('、') || t('intake.auto.none')}
                          </td>
                          <td>${x.updatedAt ? fmtTime(x.updatedAt) : '—'} ${x.updatedBy ?? ''}</td>
                          <td class="toolbar">
                            <button type="button" data-act="edit-sender">${t('staff.edit')}</button>
                            <button type="button" data-act="delete-sender">
                              ${t('intake.delete')}
                            </button>
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
            : html`<p class="muted" id="senders-empty">${t('intake.senders.none')}</p>`
        }
        <p><button type="button" id="add-sender">${t('intake.sender.add')}</button></p>
        <h2>${t('intake.feeds')}</h2>
        <p class="muted">${t('intake.feeds.intro')}</p>
        ${
          feeds.length
            ? html`<div class="scroll">
                <table id="feeds">
                  <thead>
                    <tr>
                      <th>${t('intake.name')}</th>
                      <th>${t('intake.url')}</th>
                      <th>${t('intake.interval')}</th>
                      <th>${t('intake.state')}</th>
                      <th>${t('intake.lastOk')}</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${feeds.map(
                      (f) =>
                        html`<tr data-id="${f.id}">
                          <td>${f.name}</td>
                          <td class="url"><code>${f.url}</code></td>
                          <td>${t('intake.seconds', { n: f.intervalS })}</td>
                          <td class="state">${feedState(f)}</td>
                          <td>
                            ${f.lastOkAt ? fmtTime(f.lastOkAt) : '—'}
                            ${f.nextPollAt && f.enabled ? html`<br /><small class="muted">${t('intake.next', { at: fmtTime(f.nextPollAt) })}</small>` : ''}
                          </td>
                          <td class="toolbar">
                            <button type="button" data-act="poll">${t('intake.poll')}</button>
                            <button type="button" data-act="${f.enabled ? 'disable' : 'enable'}">
                              ${f.enabled ? t('staff.disable') : t('staff.enable')}
                            </button>
                            <button type="button" data-act="delete-feed">
                              ${t('intake.delete')}
                            </button>
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
            : html`<p class="muted" id="feeds-empty">${t('intake.feeds.none')}</p>`
        }
        <p id="poll-result" role="status"></p>
        <form id="add-feed" class="card">
          <h3>${t('intake.feed.add')}</h3>
          <p>
            <label>${t('intake.name')}<br /><input id="f-name" required maxlength="100" /></label>
          </p>
          <p>
            <label
              >${t('intake.url')}<br /><input
                id="f-url"
                type="url"
                required
                placeholder="https://"
                style="width: 100%"
            /></label>
          </p>
          <p>
            <label
              >${t('intake.interval')}<br /><input
                id="f-interval"
                type="number"
                min="10"
                max="86400"
                value="60"
                required
            /></label>
          </p>
          <p class="error" id="feed-error" role="alert"></p>
          <button type="submit" class="primary" id="feed-submit">${t('intake.feed.submit')}</button>
        </form>
      </div>`,
  );

  $('#add-sender').addEventListener('click', () => senderDialog(null));
  $('#add-feed').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/alert-feeds', {
        method: 'POST',
        body: {
          name: $('#f-name').value.trim(),
          url: $('#f-url').value.trim(),
          intervalS: Number($('#f-interval').value),
          enabled: true,
        },
      });
      await alertIntakeView();
    } catch (err) {
      $('#feed-error').textContent = errorText(err);
    }
  });
  const onClick = async (e) => {
    const button = e.target.closest('button[data-act]');
    if (!button) return;
    const row = button.closest('tr');
    try {
      if (button.dataset.act === 'edit-sender')
        senderDialog(senders.find((x) => x.sender === row.dataset.sender));
      else if (button.dataset.act === 'delete-sender') {
        if (!confirm(t('intake.deleteSender', { sender: row.dataset.sender }))) return;
        await api(`/api/alert-senders/${encodeURIComponent(row.dataset.sender)}`, {
          method: 'DELETE',
        });
        await alertIntakeView();
      } else if (button.dataset.act === 'delete-feed') {
        const f = feeds.find((x) => x.id === row.dataset.id);
        if (!confirm(t('intake.deleteFeed', { name: f.name }))) return;
        await api(`/api/alert-feeds/${f.id}`, { method: 'DELETE' });
        await alertIntakeView();
      } else if (button.dataset.act === 'enable' || button.dataset.act === 'disable') {
        await api(`/api/alert-feeds/${row.dataset.id}`, {
          method: 'PATCH',
          body: { enabled: button.dataset.act === 'enable' },
        });
        await alertIntakeView();
      } else if (button.dataset.act === 'poll') {
        button.disabled = true;
        const r = await api(`/api/alert-feeds/${row.dataset.id}/poll`, { method: 'POST' });
        await alertIntakeView();
        const out = $('#poll-result');
        out.dataset.feed = row.dataset.id;
        out.textContent = pollText(r);
      }
    } catch (err) {
      button.disabled = false;
      showError(err);
    }
  };
  // On the page's own box: a redraw (after a change) replaces it, and the handler with it.
  $('#intake').addEventListener('click', onClick);
}

/** What a poll found, in one line: the feed's counts, and why it failed or which rules refused. */
function pollText(r) {
  if (r.status === 'failed')
    return t('intake.pollFailed', { error: r.error ?? r.httpStatus ?? '' });
  if (r.status === 'not-modified') return t('intake.notModified');
  const refused = (r.results ?? []).filter((x) => x.result === 'refused' && x.rule);
  return [
    t('intake.polled', {
      entries: r.entries,
      alerts: r.newAlerts,
      duplicates: r.duplicates,
      refused: r.refusals,
    }),
    ...refused.map((x) => `${x.rule}${x.reason ? `（${x.reason}）` : ''}`),
  ].join(' · ');
}

function senderDialog(x) {
  const dialog = openDialog(
    html`<form class="card" id="sender-form">
      <h2>${x ? x.sender : t('intake.sender.add')}</h2>
      ${
        x
          ? ''
          : html`<p>
              <label
                >${t('intake.sender')}<br /><input
                  id="s-sender"
                  required
                  maxlength="255"
                  autocapitalize="none"
                  placeholder="12379@cma.gov.cn"
                  style="width: 100%"
              /></label>
            </p>`
      }
      <p>
        <label
          >${t('intake.name')}<br /><input
            id="s-name"
            required
            maxlength="100"
            value="${x?.name ?? ''}"
        /></label>
      </p>
      <p>
        <label
          >${t('intake.policy')}<br /><select id="s-policy">
            ${POLICIES.map((p) => html`<option value="${p}" ${p === (x?.policy ?? 'require_signature') ? raw('selected') : ''}>${t(`intake.policy.${p}`)}</option>`)}
          </select></label
        >
      </p>
      <fieldset>
        <legend>${t('intake.auto')}</legend>
        <p class="muted">${t('intake.auto.intro')}</p>
        <div class="checks">
          ${SEVERITIES.map((v) => html`<label><input type="checkbox" name="s-auto" value="${v}" ${x?.autoSeverities?.includes(v) ? raw('checked') : ''} /> ${severityWord(v)}</label>`)}
        </div>
      </fieldset>
      ${
        x?.certificates?.length
          ? html`<ul id="s-current-certs">
                ${x.certificates.map(
                  (c) =>
                    html`<li>
                      ${certName(c)}
                      ${c.validTo ? html`<small class="muted">${t('intake.certs.until', { at: fmtTime(c.validTo) })}</small>` : ''}
                    </li>`,
                )}
              </ul>
              <p class="muted">${t('intake.certs.keep', { n: x.certificates.length })}</p>`
          : ''
      }
      <p>
        <label
          >${t('intake.certs')}<br /><textarea
            id="s-certs"
            rows="6"
            style="width: 100%; font-family: monospace"
            placeholder="-----BEGIN CERTIFICATE-----"
          ></textarea>
        </label>
      </p>
      <p class="error" id="sender-error" role="alert"></p>
      <div class="toolbar">
        <button type="submit" class="primary" id="sender-save">${t('common.save')}</button>
        <button type="button" data-close>${t('common.back')}</button>
      </div>
    </form>`,
    { id: 'sender-dialog', label: x?.sender ?? t('intake.sender.add') },
  );
  $('#sender-form', dialog).addEventListener('submit', async (e) => {
    e.preventDefault();
    const sender = x?.sender ?? $('#s-sender', dialog).value.trim();
    const pems = splitPems($('#s-certs', dialog).value);
    if ($('#s-certs', dialog).value.trim() && pems.length === 0) {
      $('#sender-error', dialog).textContent = t('err.CERTIFICATE_INVALID');
      return;
    }
    // The server keeps the PEMs but never shows them: nothing pasted keeps those on record.
    const keep = pems.length === 0 && x?.certificates?.length;
    try {
      await api(`/api/alert-senders/${encodeURIComponent(sender)}`, {
        method: 'PUT',
        body: {
          name: $('#s-name', dialog).value.trim(),
          policy: $('#s-policy', dialog).value,
          ...(keep ? {} : { certificates: pems }),
          autoSeverities: $$('input[name="s-auto"]:checked', dialog).map((i) => i.value),
        },
      });
      dialog.close();
      await alertIntakeView();
    } catch (err) {
      const fields = (err?.body?.details ?? []).map((d) => d.field ?? '');
      // Certificates kept by leaving them out: a server that wants them every time says so.
      if (keep && fields.includes('certificates'))
        $('#sender-error', dialog).textContent = t('intake.certs.repaste');
      // A PEM the server could not read is named by its place (certificates.0): say it plainly.
      else if (fields.some((f) => f.startsWith('certificates.')))
        $('#sender-error', dialog).textContent = t('err.CERTIFICATE_INVALID');
      else $('#sender-error', dialog).textContent = errorText(err);
    }
  });
}
