/** An HTTP(S) fetch that cannot hang or fill memory: a deadline, a byte limit, and no other schemes. */
export interface BoundedFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface BoundedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Why a fetch gave nothing usable, in words for a log line or an inbox entry. */
export class FetchFailed extends Error {
  constructor(
    readonly url: string,
    readonly why: 'scheme' | 'network' | 'timeout' | 'too-large',
    message: string,
  ) {
    super(message);
    this.name = 'FetchFailed';
  }
}

/**
 * Fetches `url`; any status is returned (the caller decides what a 304 or a 500 means). The body
 * is read until `maxBytes` and refused beyond it, whatever Content-Length claimed.
 */
export async function boundedFetch(url: string, o: BoundedFetchOptions): Promise<BoundedResponse> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchFailed(url, 'scheme', `not a URL: ${JSON.stringify(url.slice(0, 200))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new FetchFailed(url, 'scheme', `only http and https are fetched, not ${parsed.protocol}`);
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await fetch(parsed, {
      method: o.method ?? 'GET',
      headers: o.headers,
      body: typeof o.body === 'string' || o.body === undefined ? o.body : new Uint8Array(o.body),
      signal,
      redirect: 'follow',
    });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > o.maxBytes) {
      await res.body?.cancel();
      throw new FetchFailed(url, 'too-large', `${declared} bytes, over the ${o.maxBytes} limit`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    if (res.body) {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > o.maxBytes)
          throw new FetchFailed(url, 'too-large', `over the ${o.maxBytes} byte limit`);
        chunks.push(Buffer.from(chunk));
      }
    }
    return { status: res.status, headers: res.headers, body: Buffer.concat(chunks) };
  } catch (err) {
    if (err instanceof FetchFailed) throw err;
    if (signal.aborted)
      throw new FetchFailed(url, 'timeout', `no complete answer within ${o.timeoutMs} ms`);
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new FetchFailed(url, 'network', cause ?? (err as Error).message);
  }
}
