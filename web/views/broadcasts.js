// The broadcasts list with live progress.
import { api } from '../lib/api.js';
import { levelBadge, progressBar, resultBadges } from '../lib/format.js';
import { $, html, morph, patchView, piece } from '../lib/html.js';
import { live } from '../lib/live.js';
import { canSend, onLeave, stillHere } from '../lib/state.js';
import { throttle } from '../lib/timers.js';
import { fmtTime, t } from '../i18n.js';

function broadcastRow(b) {
  return html`<tr data-id="${b.id}" data-key="b-${b.id}">
    <td><a href="#/broadcasts/${b.id}">${b.title}</a></td>
    <td>${levelBadge(b.level)}</td>
    <td>${resultBadges(b)}</td>
    <td class="hide-narrow">${fmtTime(b.startAt)}</td>
    <td style="min-width: 12rem">${progressBar(b.deliveries)}</td>
  </tr>`;
}

export async function broadcastsView() {
  const here = stillHere();
  const load = async ({ background = false } = {}) => {
    const page = await api('/api/broadcasts?limit=100', { background });
    if (!here()) return;
    patchView(
      html`<div class="toolbar">
          <h1 class="grow">${t('bc.title')}</h1>
          ${canSend() ? html`<a class="button primary" id="new-broadcast" href="#/new">${t('bc.new')}</a>` : ''}
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
  const reload = throttle(() => load({ background: true }).catch((err) => console.warn(err)), 1000);
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
