/** A Server-Sent Events client on fetch (so the token goes in a header), for tests. */
export interface SseFrame {
  event: string;
  data: unknown;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  frames: SseFrame[];
  /** Resolves with the first frame (already received or coming) matching `predicate`. */
  next(predicate: (f: SseFrame) => boolean, ms?: number, what?: string): Promise<SseFrame>;
  /** Resolves when the server ends the stream (fails after `ms`). */
  ended(ms?: number): Promise<void>;
  close(): void;
}

export async function openEvents(baseUrl: string, token: string | undefined): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}/api/events`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  });
  const frames: SseFrame[] = [];
  const waiters = new Set<() => void>();
  let endedByServer = false;
  let serverEnded = (): void => undefined;
  const endedPromise = new Promise<void>((resolve) => (serverEnded = resolve));
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const raw = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of raw.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length === 0) continue; // comments, retry
            frames.push({ event, data: JSON.parse(data.join('\n')) });
            for (const w of [...waiters]) w();
          }
        }
        endedByServer = true;
        serverEnded();
      } catch {
        // aborted by close()
      }
    })();
  } else {
    await res.text();
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    frames,
    next(predicate, ms = 10_000, what = 'event') {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < frames.length; seen++) {
            if (predicate(frames[seen])) {
              cleanup();
              resolve(frames[seen]);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${what}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    ended(ms = 10_000) {
      if (endedByServer) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('timed out waiting for the stream to end')),
          ms,
        );
        void endedPromise.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close: () => abort.abort(),
  };
}
