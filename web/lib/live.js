// Live events: fetch-streamed SSE (the session cookie, or the token in a header), reconnecting.
// Signing out lives here too, since a refused stream signs out and signing out stops the stream.
import { t } from '../i18n.js';
import { $ } from './html.js';
import { notice, session } from './state.js';

export const live = {
  listeners: new Set(),
  abort: null,
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },
  stop() {
    this.abort?.abort();
    this.abort = null;
  },
  async start() {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    const banner = $('#live-status');
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const token = session.get()?.via === 'session' ? null : session.get()?.token;
        const res = await fetch('/api/events', {
          // Reconnecting is not use of the session: it must not hold off the idle timeout.
          headers: {
            'X-Dalaba-Background': '1',
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
          },
          credentials: 'same-origin',
          signal: abort.signal,
        });
        if (res.status === 401) {
          const code = (await res.json().catch(() => null))?.error;
          return signOut({ expired: code === 'SESSION_EXPIRED', tellServer: false });
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        banner.hidden = true;
        attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of frame.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (!data) continue;
            const parsed = JSON.parse(data);
            for (const fn of this.listeners) fn(event, parsed);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        console.warn('live events:', err);
      }
      banner.textContent = t('live.lost');
      banner.hidden = false;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 15_000)));
    }
  },
};

/**
 * Forgets the session here and, for a person's session, ends it on the server first (unless the
 * server already refused it). `expired` makes the sign-in page say why it is shown.
 */
export async function signOut({ expired = false, tellServer = true } = {}) {
  const s = session.get();
  live.stop();
  if (tellServer && s?.via === 'session')
    await fetch('/api/session', {
      method: 'DELETE',
      headers: { 'X-CSRF-Token': s.csrfToken },
      credentials: 'same-origin',
    }).catch(() => undefined);
  session.clear();
  if (expired) notice.value = 'expired';
  for (const fn of onSignOut) fn();
  // Already on the sign-in page, hashchange would not fire: draw it again for the notice.
  if (location.hash === '#/login') window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = '#/login';
}
/** What else forgets the person on sign-out (the approvals count). */
export const onSignOut = new Set();
