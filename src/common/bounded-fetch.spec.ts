import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { boundedFetch, FetchFailed, isPublicAddress, MAX_REDIRECTS } from './bounded-fetch.js';

describe('isPublicAddress', () => {
  it('refuses this machine, private, shared, link-local, multicast and their IPv6 forms', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'fe80::1%eth0',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '::127.0.0.1',
      '64:ff9b::a00:1',
      '64:ff9b::169.254.169.254',
      'localhost',
    ])
      assert.equal(isPublicAddress(a), false, a);
  });

  it('accepts public IPv4 and IPv6 addresses, NAT64 of a public one included', () => {
    for (const a of [
      '8.8.8.8',
      '1.1.1.1',
      '172.32.0.1',
      '100.128.0.1',
      '2001:4860:4860::8888',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ])
      assert.equal(isPublicAddress(a), true, a);
  });
});

describe('boundedFetch addresses', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.socket.localAddress} ${req.url}`);
      const hop = /^\/hop\/(\d+)$/.exec(req.url ?? '');
      if (req.url === '/to-loopback') {
        res.writeHead(302, { Location: `http://127.0.0.1:${port}/secret` }).end();
      } else if (hop) {
        const n = Number(hop[1]);
        res.writeHead(307, { Location: n > 0 ? `/hop/${n - 1}` : '/secret' }).end();
      } else {
        res.end('internal answer');
      }
    });
    // 0.0.0.0: reachable both as 127.0.0.1 and 127.0.0.2, which the tests tell apart.
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const o = { maxBytes: 1000, timeoutMs: 5000 };
  const refused = (err: unknown) =>
    err instanceof FetchFailed &&
    err.why === 'refused' &&
    err.message === 'refused: private address';

  it('public-only refuses a loopback address, literal or by name, without connecting', async () => {
    hits.length = 0;
    for (const url of [
      `http://127.0.0.1:${port}/secret`,
      `http://[::ffff:127.0.0.1]:${port}/secret`,
      `http://localhost:${port}/secret`,
    ])
      await assert.rejects(boundedFetch(url, { ...o, addresses: 'public-only' }), refused, url);
    assert.deepEqual(hits, []);
  });

  it('any still fetches a loopback address', async () => {
    const res = await boundedFetch(`http://127.0.0.1:${port}/secret`, { ...o, addresses: 'any' });
    assert.equal(res.body.toString(), 'internal answer');
  });

  it('checks every redirect: an allowed address redirecting to a refused one is refused', async () => {
    hits.length = 0;
    const onlyDotTwo = { ...o, addresses: (a: string) => a === '127.0.0.2' };
    await assert.rejects(boundedFetch(`http://127.0.0.2:${port}/to-loopback`, onlyDotTwo), refused);
    assert.deepEqual(hits, ['127.0.0.2 /to-loopback']);
    // The same rule follows redirects that stay allowed, up to the limit.
    const ok = await boundedFetch(`http://127.0.0.2:${port}/hop/${MAX_REDIRECTS - 1}`, onlyDotTwo);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'internal answer');
    assert.equal(ok.headers.get('content-length'), '15');
    await assert.rejects(
      boundedFetch(`http://127.0.0.2:${port}/hop/${MAX_REDIRECTS}`, onlyDotTwo),
      (err) => err instanceof FetchFailed && err.why === 'redirects',
    );
  });
});
