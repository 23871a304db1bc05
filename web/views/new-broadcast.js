// Sending a broadcast: the form, the clip (upload or text to speech), the reach, the emergency
// confirmation, and for levels that need a second person, submitting a draft (or an explained
// emergency override).
import { api, ApiError, errorText, showError } from '../lib/api.js';
import { levelsNeedingApproval, submitDraft } from '../lib/approvals.js';
import { LEVELS } from '../lib/contract.js';
import { openDialog } from '../lib/dialog.js';
import { levelBadge, toIso } from '../lib/format.js';
import { clipOptions, previewClip, reachLine, targetPicker } from '../lib/forms.js';
import { $, html, piece, raw, show } from '../lib/html.js';
import { canOperate, canSend, isTownOfficial } from '../lib/state.js';
import { ttsBox } from '../lib/tts.js';
import { t } from '../i18n.js';

/** Levels that interrupt everything and ignore quiet hours: sending one asks first. */
const EMERGENCY = new Set(['I', 'II', 'III', 'IV']);

/** What a town official may send on their own: nothing that interrupts the county's people. */
const TOWN_LEVELS = new Set(['routine', 'test']);

export async function newBroadcastView() {
  if (!canSend()) {
    show(html`<p class="error">${t('common.forbidden')}</p>`);
    return;
  }
  const needsApproval = await levelsNeedingApproval();
  const levels = isTownOfficial() ? LEVELS.filter((l) => TOWN_LEVELS.has(l)) : LEVELS;
  show(
    html`<h1>${t('new.title')}</h1>
      <form id="new-broadcast-form" class="card">
        <div class="row">
          <label for="title">${t('new.name')}</label
          ><input id="title" name="title" required maxlength="200" />
        </div>
        <div class="row">
          <label for="clip">${t('new.clip')}</label>
          <div>
            <select id="clip" name="clip"></select>
            <p>
              ${t('new.clip.upload')}:
              <input type="file" id="upload" accept="audio/*,.mp3,.wav,.m4a,.ogg,.amr" />
            </p>
            <div id="tts-box"></div>
            <p id="clip-state" class="muted" role="status"></p>
            <audio id="preview" controls hidden></audio>
          </div>
        </div>
        <div class="row">
          <label>${t('new.target')}</label>
          <div>
            <div id="target"></div>
            <p id="reach" class="muted" role="status"></p>
          </div>
        </div>
        <div class="row">
          <label for="level">${t('new.level')}</label>
          <div>
            <select id="level" name="level">
              ${levels.map((l) => html`<option value="${l}" ${l === 'routine' ? raw('selected') : ''}>${t(`level.${l}`)}</option>`)}
            </select>
            <span id="level-badge">${levelBadge('routine')}</span>
          </div>
        </div>
        <div class="row">
          <label for="start">${t('new.start')}</label>
          <div>
            <input type="datetime-local" id="start" />
            <small class="muted">${t('new.start.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label for="expires">${t('new.expires')}</label>
          <div>
            <input type="datetime-local" id="expires" />
            <small class="muted">${t('new.expires.hint')}</small>
          </div>
        </div>
        <div class="row">
          <label for="repeat">${t('new.repeat')}</label
          ><input type="number" id="repeat" min="1" max="10" value="1" />
        </div>
        <div class="row">
          <label></label><label><input type="checkbox" id="tone" /> ${t('new.tone')}</label>
        </div>
        <div id="approval-row" hidden>
          <p class="muted" id="approval-note">${t('new.needsApproval')}</p>
          ${
            canOperate()
              ? html`<p>
                    <label><input type="checkbox" id="override" /> ${t('new.override')}</label>
                  </p>
                  <p id="override-why" hidden>
                    <label
                      >${t('new.overrideReason')}<br /><textarea
                        id="override-reason"
                        minlength="5"
                        maxlength="500"
                        rows="2"
                        style="width: 100%"
                      ></textarea>
                    </label>
                  </p>`
              : ''
          }
        </div>
        <p class="error" id="form-error" role="alert"></p>
        <button class="primary" type="submit" id="send">${t('new.submit')}</button>
      </form>`,
  );
  const clip = $('#clip');
  const level = $('#level');
  const tone = $('#tone');
  // Bound before the form's lists load: a level chosen meanwhile still sets its tone and badge.
  const override = () => Boolean($('#override')?.checked);
  /** A level needing approval goes as a draft, unless overridden with a reason. */
  const asDraft = () => needsApproval.has(level.value) && !override();
  const approvalState = () => {
    $('#approval-row').hidden = !needsApproval.has(level.value);
    if ($('#override-why')) $('#override-why').hidden = !override();
    $('#send').textContent = asDraft() ? t('new.submitDraft') : t('new.submit');
  };
  level.addEventListener('change', () => {
    tone.checked = EMERGENCY.has(level.value);
    $('#level-badge').innerHTML = piece(levelBadge(level.value));
    approvalState();
  });
  $('#override')?.addEventListener('change', approvalState);
  await clipOptions(clip);
  const reachOf = reachLine($('#reach'));
  const picker = await targetPicker($('#target'), reachOf.update);
  reachOf.update(picker.value());
  clip.addEventListener('change', () =>
    previewClip(clip.value, $('#preview')).catch((err) => showError(err)),
  );
  // A spoken clip is picked and previewed like an uploaded one (county operators make them).
  if (canOperate())
    await ttsBox($('#tts-box'), {
      titleOf: (text) => $('#title').value.trim() || text.replace(/\s+/g, ' ').slice(0, 40),
      onClip: async (c) => {
        $('#clip-state').textContent = '';
        await clipOptions(clip, c.id);
        await previewClip(c.id, $('#preview'));
      },
    });

  $('#upload').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const state = $('#clip-state');
    const form = new FormData();
    form.append('file', file);
    try {
      let c = await api('/api/clips', { method: 'POST', body: form });
      while (c.status !== 'ready' && c.status !== 'failed') {
        state.textContent = t('new.clip.processing');
        await new Promise((r) => setTimeout(r, 700));
        c = await api(`/api/clips/${c.id}`);
      }
      if (c.status === 'failed') {
        // The server's words (English, from ffmpeg) go in the tooltip for whoever fixes it.
        state.textContent = t('new.clip.failed');
        state.title = c.failureReason ?? '';
        return;
      }
      state.textContent = t('new.clip.ready', { seconds: Math.round(c.durationMs / 100) / 10 });
      await clipOptions(clip, c.id);
      await previewClip(c.id, $('#preview'));
    } catch (err) {
      state.textContent = errorText(err);
    }
  });

  const body = () => ({
    title: $('#title').value.trim(),
    clipId: clip.value,
    level: level.value,
    target: picker.value(),
    startAt: toIso($('#start').value),
    expiresAt: toIso($('#expires').value),
    repeat: Number($('#repeat').value) || 1,
    attentionTone: tone.checked,
    ...(needsApproval.has(level.value) && override()
      ? { override: { reason: $('#override-reason').value.trim() } }
      : {}),
  });
  // One key per broadcast being sent: pressing send again after no answer (the server restarted)
  // finds the broadcast the first press made instead of sending a second alert.
  // getRandomValues, not randomUUID: the console is often served over plain HTTP on the LAN.
  const newKey = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
  let requestKey = newKey();
  const send = async () => {
    const button = $('#send');
    button.disabled = true;
    try {
      const b = await api('/api/broadcasts', {
        method: 'POST',
        body: body(),
        headers: { 'Idempotency-Key': requestKey },
      });
      requestKey = newKey();
      location.hash = `#/broadcasts/${b.id}`;
    } catch (err) {
      if (err instanceof ApiError && err.body?.error === 'IDEMPOTENCY_KEY_REUSED') {
        // The form changed since the press that got no answer: this is a new broadcast.
        requestKey = newKey();
        return send();
      }
      $('#form-error').textContent = errorText(err);
      button.disabled = false;
    }
  };
  const draft = async () => {
    const button = $('#send');
    button.disabled = true;
    try {
      const d = await submitDraft({ broadcast: body() });
      // The draft's own page says it waits for approval, and updates when it is decided.
      location.hash = `#/approvals/${d.id}`;
    } catch (err) {
      $('#form-error').textContent = errorText(err);
      button.disabled = false;
    }
  };
  $('#new-broadcast-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('#form-error').textContent = '';
    const b = body();
    if (!b.clipId) {
      $('#form-error').textContent = t('new.clip.none');
      return;
    }
    if (b.override && b.override.reason.length < 5) {
      $('#form-error').textContent = t('new.overrideReason.short');
      return;
    }
    // Nobody is interrupted until a second person approves: no confirmation needed yet.
    if (asDraft()) return void draft();
    if (!EMERGENCY.has(b.level)) return void send();
    // Emergencies interrupt everything and ignore quiet hours: one more, explicit step.
    const dialog = openDialog(
      html`<div class="card">
        <h2 id="confirm-title">${t('new.confirmTitle')}</h2>
        <p>
          ${t('new.confirmText', { villages: reachOf.value()?.villages ?? '?', devices: reachOf.value()?.devices ?? '?', level: t(`level.${b.level}`), title: b.title })}
        </p>
        <div class="toolbar">
          <button type="button" class="danger" id="confirm-send">${t('new.confirmGo')}</button>
          <button type="button" id="confirm-back" data-close autofocus>${t('common.back')}</button>
        </div>
      </div>`,
      { id: 'confirm', label: t('new.confirmTitle') },
    );
    $('#confirm-send', dialog).addEventListener('click', () => {
      dialog.close();
      void send();
    });
  });
}
