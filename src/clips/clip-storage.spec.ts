import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, afterAll } from '@jest/globals';
import type { AppConfig } from '../config/app-config.js';
import { ClipStorage } from './clip-storage.js';

describe('clip storage: finished audio served from memory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dalaba-storage-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const storage = new ClipStorage({ dataDir } as AppConfig);
  const put = (bytes: Buffer) => {
    const sha = createHash('sha256').update(bytes).digest('hex');
    const path = storage.audioPath(sha);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    return { sha, path };
  };

  it('reads a file once, then answers from memory; forgets it when the audio is removed', async () => {
    const body = randomBytes(20_000);
    const { sha, path } = put(body);
    const first = await storage.audio(sha);
    assert.equal(first?.size, body.length);
    assert.ok(first?.bytes?.equals(body));
    rmSync(path); // behind its back: the second answer must come from memory
    assert.ok((await storage.audio(sha))?.bytes?.equals(body));
    await storage.removeAudio(sha);
    assert.equal(await storage.audio(sha), undefined);
  });

  it('keeps at most 64 MiB, least recently used out first; bigger files stream from disk', async () => {
    const mib = (n: number) => Buffer.alloc(n * 2 ** 20, n);
    const files = [15, 15, 15, 15].map((n, i) => put(Buffer.concat([mib(n), Buffer.from([i])])));
    for (const f of files) assert.ok((await storage.audio(f.sha))?.bytes);
    await storage.audio(files[0].sha); // touch the oldest: the second is now least recent
    const fifth = put(Buffer.concat([mib(15), Buffer.from([9])]));
    assert.ok((await storage.audio(fifth.sha))?.bytes);
    for (const f of [files[1], files[2]]) rmSync(f.path);
    assert.equal(await storage.audio(files[1].sha), undefined, 'evicted, so read from disk');
    assert.ok((await storage.audio(files[0].sha))?.bytes, 'recently used: kept');

    const big = put(mib(17));
    const answer = await storage.audio(big.sha);
    assert.equal(answer?.size, 17 * 2 ** 20);
    assert.equal(answer?.bytes, undefined, 'over 16 MiB: streamed');
  });
});
