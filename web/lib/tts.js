// Text to speech in a form: the text, the voice and the speed, made into a clip by the server
// (POST /api/clips/tts) like any upload. Without an engine the form says so and makes nothing.
import { t } from '../i18n.js';
import { api, errorText } from './api.js';
import { $, html, piece, raw } from './html.js';

/** The longest text the server speaks (src/tts: 1–2000 characters after trim). */
const MAX_TEXT = 2000;

/**
 * Draws the text-to-speech box into `container`; `onClip(clip)` gets each ready clip made.
 * `titleOf(text)` names the clip (the broadcast's title when one is typed).
 */
export async function ttsBox(container, { onClip, titleOf }) {
  let status;
  try {
    status = await api('/api/clips/tts');
  } catch (err) {
    status = { available: false, engine: null, reason: errorText(err), voices: [] };
  }
  container.innerHTML = piece(
    html`<details id="tts" data-available="${status.available ? 'yes' : 'no'}">
      <summary>${t('tts.title')}</summary>
      ${
        status.available
          ? html`<p class="muted" id="tts-engine">${t('tts.engine', { engine: status.engine })}</p>`
          : html`<p class="warn-text" id="tts-unavailable" role="status">
              ${t('tts.unavailable')}${status.reason ? html` <small>(${status.reason})</small>` : ''}
            </p>`
      }
      <p>
        <label
          >${t('tts.text')}<br /><textarea
            id="tts-text"
            rows="4"
            maxlength="${MAX_TEXT}"
            style="width: 100%"
            ${status.available ? '' : raw('disabled')}
          ></textarea>
        </label>
      </p>
      <p class="checks">
        <label
          >${t('tts.voice')}
          <select id="tts-voice" ${status.available ? '' : raw('disabled')}>
            ${
              status.voices?.length
                ? status.voices.map(
                    (v) =>
                      html`<option value="${v}" ${v === status.defaultVoice ? raw('selected') : ''}>
                        ${v === status.defaultVoice ? t('tts.voice.defaultNamed', { voice: v }) : v}
                      </option>`,
                  )
                : html`<option value="">${t('tts.voice.default')}</option>`
            }
          </select></label
        >
        <label
          >${t('tts.speed')}
          <input
            type="range"
            id="tts-speed"
            min="0.5"
            max="2"
            step="0.1"
            value="1"
            ${status.available ? '' : raw('disabled')}
          />
          <output id="tts-speed-value">1.0×</output></label
        >
      </p>
      <p>
        <button type="button" id="tts-make" ${status.available ? '' : raw('disabled')}>
          ${t('tts.make')}
        </button>
        <span id="tts-state" class="muted" role="status"></span>
      </p>
    </details>`,
  );
  $('#tts-speed', container).addEventListener('input', (e) => {
    $('#tts-speed-value', container).textContent = `${Number(e.target.value).toFixed(1)}×`;
  });
  $('#tts-make', container).addEventListener('click', async () => {
    const state = $('#tts-state', container);
    const text = $('#tts-text', container).value.trim();
    if (!text) {
      state.textContent = t('tts.empty');
      return;
    }
    const button = $('#tts-make', container);
    button.disabled = true;
    state.textContent = t('tts.making');
    try {
      const voice = $('#tts-voice', container).value;
      let c = await api('/api/clips/tts', {
        method: 'POST',
        body: {
          text,
          ...(voice ? { voice } : {}),
          speed: Number($('#tts-speed', container).value),
          title: titleOf(text),
        },
      });
      // The server answers once the clip is ready; a slower one may still be processing it.
      while (c.status !== 'ready' && c.status !== 'failed') {
        await new Promise((r) => setTimeout(r, 700));
        c = await api(`/api/clips/${c.id}`);
      }
      if (c.status === 'failed') {
        state.textContent = t('new.clip.failed');
        state.title = c.failureReason ?? '';
        return;
      }
      state.textContent = t('tts.ready', { seconds: Math.round(c.durationMs / 100) / 10 });
      await onClip(c);
    } catch (err) {
      state.textContent = errorText(err);
    } finally {
      button.disabled = false;
    }
  });
  return status;
}
