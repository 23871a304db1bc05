// Two-person approval as the dashboard sees it: which levels need a second person, the count of
// drafts waiting (in the nav and the tab title) and the short sound when a new one arrives.
import { api } from './api.js';
import { levelBadge } from './format.js';
import { $, html, piece } from './html.js';
import { t } from '../i18n.js';
import { live, onSignOut } from './live.js';
import { mayApprove, session } from './state.js';

/** Levels that need approval, from the server's policy; none when it cannot say. */
export async function levelsNeedingApproval() {
  try {
    const policy = await api('/api/approval-policy');
    return new Set(policy.levels.filter((l) => l.needsApproval).map((l) => l.level));
  } catch (err) {
    console.warn('approval policy:', err);
    return new Set();
  }
}

/** Set while this tab submits a draft: its own draft's arrival is no news to its sender. */
let submitting = 0;
/** Stores a draft for a second person to approve; returns the DraftDto. */
export async function submitDraft(body) {
  submitting++;
  try {
    return await api('/api/drafts', { method: 'POST', body });
  } finally {
    submitting--;
  }
}

const BASE_TITLE = document.title;
export const pending = {
  count: 0,
  set(n) {
    this.count = n;
    document.title = n > 0 ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
    const badge = $('#approvals-count');
    if (badge) {
      badge.textContent = String(n);
      badge.hidden = n === 0;
    }
  },
};

/**
 * A short two-tone beep. Browsers may keep audio suspended until the page is touched; the
 * counter still moves so a test (and a curious technician) can see a cue was due.
 */
let audio = null;
function cue() {
  window.__dalabaCues = (window.__dalabaCues ?? 0) + 1;
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.2, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch (err) {
    console.warn('approval cue:', err);
  }
}

/** Reads the waiting count now; afterwards the live `drafts` event keeps it. */
export async function watchApprovals() {
  if (!session.get() || !mayApprove()) return;
  try {
    const page = await api('/api/drafts?status=pending&limit=1');
    pending.set(page.total ?? page.items.length);
  } catch (err) {
    console.warn('drafts:', err);
  }
}

window.__dalabaCues = 0;
live.on((event, data) => {
  if (event !== 'drafts' || !mayApprove()) return;
  // More waiting than before: someone submitted one (a decision or expiry only lowers it).
  if (data.pending > pending.count && !submitting) cue();
  pending.set(data.pending);
});
// An emergency sent without its second person: every county operator is told at once, with
// the same cue, until they dismiss it.
live.on((event, data) => {
  // The sender knows already.
  if (event !== 'override' || !mayApprove() || data.by === session.get()?.name) return;
  const box = $('#override-notice');
  box.innerHTML = piece(
    html`<span id="override-text" data-broadcast="${data.broadcastId}"
        >${t('appr.overrideNotice', { by: data.by, reason: data.reason })}</span
      >
      ${levelBadge(data.level)}
      <a href="#/broadcasts/${data.broadcastId}">${data.title}</a>
      <button type="button" class="link" id="override-dismiss">${t('appr.dismiss')}</button>`,
  );
  box.hidden = false;
  $('#override-dismiss').addEventListener('click', () => (box.hidden = true));
  cue();
});
onSignOut.add(() => {
  pending.set(0);
  $('#override-notice').hidden = true;
});
