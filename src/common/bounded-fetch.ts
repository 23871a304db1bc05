import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Which addresses a fetch may connect to. `public-only` is for URLs that arrive from outside (an
 * alert's audio resource, a feed and its links): the server must not be made to read its own
 * network for someone else. `any` is for URLs only an admin sets in the environment. A function
 * is a rule of the caller's own, asked about every address a name resolves to.
 */
export type AddressPolicy = 'public-only' | 'any' | ((address: string) => boolean);

/** An HTTP(S) fetch that cannot hang or fill memory: a deadline, a byte limit, and no other schemes. */
export interface BoundedFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** `any` unless said: see {@link AddressPolicy}. */
  addresses?: AddressPolicy;
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
    readonly why: 'scheme' | 'network' | 'timeout' | 'too-large' | 'refused' | 'redirects',
    message: string,
  ) {
    super(message);
    this.name = 'FetchFailed';
  }
}

/** Redirects followed at most under `public-only`, each one checked like the first request. */
export const MAX_REDIRECTS = 5;

/**
 * What `public-only` refuses to connect to: this machine, private and shared networks, link-local
 * (cloud metadata at 169.254.169.254), multicast and reserved. IPv4-mapped IPv6 addresses are
 * matched against the IPv4 rules by BlockList itself; NAT64 and IPv4-compatible forms are
 * unwrapped by {@link isPublicAddress}.
 */
const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NOT_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible form
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  NOT_PUBLIC.addSubnet(net, bits, 'ipv6');
const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/** Whether `address` (a literal IPv4 or IPv6 address) is on the public internet. */
export function isPublicAddress(literal: string): boolean {
  const address = literal.replace(/%.*$/, ''); // a link-local address's zone (fe80::1%eth0)
  const family = isIP(address);
  if (family === 4) return !NOT_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  if (NOT_PUBLIC.check(address, 'ipv6')) return false;
  // A NAT64 gateway reaches the IPv4 address in the low 32 bits: judge that one.
  if (NAT64.check(address, 'ipv6')) return isPublicAddress(lowIpv4(address));
  return true;
}

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function lowIpv4(v6: string): string {
  const groups = ipv6Groups(v6);
  const [hi, lo] = [groups[6] ?? 0, groups[7] ?? 0];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted tail converted). */
function ipv6Groups(v6: string): number[] {
  let s = v6;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

/** Thrown by the pinned lookup, so the refusal is told apart from a network failure. */
class AddressRefused extends Error {}

/**
 * Resolves like the system does (every address), refuses the whole name if any address is not
 * public, and hands the socket exactly the addresses it checked: nothing resolves the name again
 * between the check and the connection.
 */
const lookupAllowing =
  (allowed: (address: string) => boolean): LookupFunction =>
  (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      if (found.length === 0 || !found.every((a) => allowed(a.address)))
        return callback(new AddressRefused(hostname), '', 0);
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, found);
      callback(null, found[0].address, found[0].family);
    });
  };

/**
 * Fetches `url`; any status is returned (the caller decides what a 304 or a 500 means). The body
 * is read until `maxBytes` and refused beyond it, whatever Content-Length claimed. Under
 * `public-only` an address that is not public is refused as `refused: private address`, at the
 * first request and at every redirect (at most {@link MAX_REDIRECTS}).
 */
export async function boundedFetch(url: string, o: BoundedFetchOptions): Promise<BoundedResponse> {
  const parsed = httpUrl(url, url);
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const allowed =
      o.addresses === 'public-only'
        ? isPublicAddress
        : typeof o.addresses === 'function'
          ? o.addresses
          : null;
    return allowed
      ? await fetchChecked(url, parsed, o, allowed, signal)
      : await fetchAny(url, parsed, o, signal);
  } catch (err) {
    if (err instanceof FetchFailed) throw err;
    if (signal.aborted)
      throw new FetchFailed(url, 'timeout', `no complete answer within ${o.timeoutMs} ms`);
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new FetchFailed(url, 'network', cause ?? (err as Error).message);
  }
}

function httpUrl(url: string, requested: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchFailed(requested, 'scheme', `not a URL: ${JSON.stringify(url.slice(0, 200))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new FetchFailed(
      requested,
      'scheme',
      `only http and https are fetched, not ${parsed.protocol}`,
    );
  return parsed;
}

/** Through the platform's fetch, redirects followed: for URLs an admin set. */
async function fetchAny(
  url: string,
  parsed: URL,
  o: BoundedFetchOptions,
  signal: AbortSignal,
): Promise<BoundedResponse> {
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
  const body = await readBounded(url, (res.body ?? []) as AsyncIterable<Uint8Array>, o.maxBytes);
  return { status: res.status, headers: res.headers, body };
}

/**
 * Through node:http with {@link lookupAllowing}, redirects followed by hand: the platform's
 * fetch can neither pin the checked address nor let each hop be checked.
 */
async function fetchChecked(
  url: string,
  first: URL,
  o: BoundedFetchOptions,
  allowed: (address: string) => boolean,
  signal: AbortSignal,
): Promise<BoundedResponse> {
  let target = first;
  let method = o.method ?? 'GET';
  let body = o.body;
  let headers = { ...o.headers };
  for (let hop = 0; ; hop++) {
    // A literal address is connected to without any lookup: check it here.
    const host = target.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !allowed(host))
      throw new FetchFailed(url, 'refused', 'refused: private address');
    const res = await requestOnce(url, target, { method, headers, body, allowed, signal });
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) {
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > o.maxBytes) {
        res.destroy();
        throw new FetchFailed(url, 'too-large', `${declared} bytes, over the ${o.maxBytes} limit`);
      }
      const answer = new Headers();
      for (const [name, value] of Object.entries(res.headers))
        for (const v of Array.isArray(value) ? value : [value ?? '']) answer.append(name, v);
      return {
        status: res.statusCode ?? 0,
        headers: answer,
        body: await readBounded(url, res, o.maxBytes),
      };
    }
    res.resume();
    if (hop >= MAX_REDIRECTS)
      throw new FetchFailed(url, 'redirects', `more than ${MAX_REDIRECTS} redirects`);
    const next = httpUrl(new URL(location, target).toString(), url);
    if (next.origin !== target.origin) {
      // Credentials are for the origin they were given to (as the platform's fetch does).
      headers = Object.fromEntries(
        Object.entries(headers).filter(([k]) => !/^(authorization|cookie)$/i.test(k)),
      );
    }
    if (
      res.statusCode === 303 ||
      (method === 'POST' && res.statusCode !== 307 && res.statusCode !== 308)
    ) {
      method = 'GET';
      body = undefined;
    }
    target = next;
  }
}

function requestOnce(
  url: string,
  target: URL,
  o: {
    method: string;
    headers: Record<string, string>;
    body: string | Buffer | undefined;
    allowed: (address: string) => boolean;
    signal: AbortSignal;
  },
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: o.method,
      headers: o.headers,
      signal: o.signal,
      lookup: lookupAllowing(o.allowed),
      agent: false,
    });
    req.on('response', resolve);
    req.on('error', (err) => {
      if (err instanceof AddressRefused)
        reject(new FetchFailed(url, 'refused', 'refused: private address'));
      else reject(err);
    });
    req.end(o.body);
  });
}

async function readBounded(
  url: string,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new FetchFailed(url, 'too-large', `over the ${maxBytes} byte limit`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
