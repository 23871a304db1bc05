// Live events: fetch-streamed SSE with the token in a header, reconnecting. Signing out lives here
// too, since a refused stream signs out and signing out stops the stream.
import { t } from '../i18n.js';
import { $ } from './html.js';
import { session } from './state.js';

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
        const res = await fetch('/api/events', {
          headers: { Authorization: `Bearer ${session.get()?.token ?? ''}` },
          signal: abort.signal,
        });
        if (res.status === 401) return signOut();
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

export function signOut() {
  session.clear();
  live.stop();
  location.hash = '#/login';
}
