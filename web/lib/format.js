// How broadcasts, levels and failures read, the same in every view.
import { t } from '../i18n.js';
import { DELIVERY_PROGRESS } from './contract.js';
import { html } from './html.js';

/** Under way: between pending (first) and played (last) in the contract's forward order. */
const IN_PROGRESS = DELIVERY_PROGRESS.slice(1, -1);

/** A level in its colour (I red, II orange, III yellow, IV blue) and always in words too. */
export function levelBadge(level) {
  return html`<span class="badge level-${level}" data-level="${level}"
    >${t(`level.${level}`)}</span
  >`;
}
export function statusBadge(status) {
  return html`<span class="badge status-${status}" data-status="${status}"
    >${t(`status.${status}`)}</span
  >`;
}
/** A broadcast's status, and once it ended, what came of it. */
export function resultBadges(b) {
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
export function failuresLine(failures) {
  return failures?.length
    ? html`<small class="muted failures" data-codes="${failures.map((f) => f.code).join(' ')}"
        >${failures.map(failureText).join('；')}</small
      >`
    : '';
}
export function outcomeText(o) {
  if (!o) return t('board.noBroadcast');
  // Called off: that is the whole story, not "uncovered".
  if (o.status === 'cancelled' && o.outcome !== 'covered') return t('status.cancelled');
  return o.reason
    ? `${t(`outcome.${o.outcome}`)} · ${t(`reason.${o.reason}`)}`
    : t(`outcome.${o.outcome}`);
}

export function progressBar(d) {
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

export function toIso(local) {
  return local ? new Date(local).toISOString() : undefined;
}
