import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { promisify } from 'node:util';
import { ROOT } from './support/cli.js';
import { tempDir } from './support/server.js';

/**
 * The benchmark at its smoke size, as CI runs it: it checks correctness, not time. Each round
 * already fails the run unless every device got exactly one command and every confirmation is
 * stored exactly once; this test also reads what it recorded.
 */
describe('npm run bench at the smoke size (81 devices)', () => {
  it('delivers to all 81 devices once, stores every confirmation once, answers coverage alike, measures memory, compares group topics, holds a broadcast in quiet hours, survives a restart', async () => {
    const out = join(tempDir(), 'smoke.jsonl');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(ROOT, 'dist/test/bench/main.js'),
        '--scenario',
        'fanout,ingest,group,coverage,memory,storm,quiet',
        '--devices',
        '81',
        '--rounds',
        '1',
        '--coverage-devices',
        '2000',
        '--rows',
        '12000',
        '--storm-devices',
        '81',
        '--memory-devices',
        '81',
        '--group-devices',
        '250',
        '--quiet-devices',
        '81',
        '--out',
        out,
      ],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    assert.match(stdout, /\| fan-out/);
    const rows = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { scenario: string; raw?: { failures: string[] } });
    const by = (scenario: string): unknown => rows.find((r) => r.scenario === scenario);
    // Memory, quiet hours and the storm ride on the 81-device stage: memory while it connects,
    // quiet hours after ingest, the storm last.
    assert.deepEqual(
      rows.map((r) => r.scenario),
      ['memory', 'fanout', 'ingest-evidence', 'ingest', 'quiet', 'storm', 'group', 'coverage'],
    );
    for (const r of rows.filter((r) => r.raw)) assert.deepEqual(r.raw?.failures, [], r.scenario);

    const memory = by('memory') as {
      devices: number;
      half: number;
      stage: string;
      atTotal: number;
      beforeGc: { atTotal: number };
    };
    assert.deepEqual([memory.devices, memory.half, memory.stage], [81, 40, 'ours-81']);
    assert.ok(memory.atTotal > 0, 'RSS after a full GC (through the server inspector)');
    assert.ok(memory.beforeGc.atTotal > 0, 'and as it was before');

    const fanout = by('fanout') as {
      devices: number;
      ours: { p100: number; played: number; resent: number };
      baseline: { p100: number; resent: number };
    };
    assert.equal(fanout.devices, 81);
    assert.ok(fanout.ours.p100 > 0 && fanout.ours.played >= fanout.ours.p100);
    assert.ok(fanout.baseline.p100 > 0);
    assert.deepEqual([fanout.ours.resent, fanout.baseline.resent], [0, 0], 'one command each');

    const ingest = by('ingest') as {
      ours: { lost: number; duplicated: number; perSecond: number };
      baseline: { lost: number; duplicated: number };
    };
    assert.deepEqual(
      [ingest.ours.lost, ingest.ours.duplicated, ingest.baseline.lost, ingest.baseline.duplicated],
      [0, 0, 0, 0],
    );
    assert.ok(ingest.ours.perSecond > 0);
    // The chain-off server (the evidence chain's A/B) stored every confirmation too.
    const chain = by('ingest-evidence') as {
      off: { perSecond: number };
      perRound: { off: { lost: number; duplicated: number }[]; failures: string[] };
    };
    assert.deepEqual(chain.perRound.failures, []);
    assert.ok(chain.off.perSecond > 0);
    assert.deepEqual(
      chain.perRound.off.map((x) => [x.lost, x.duplicated]),
      chain.perRound.off.map(() => [0, 0]),
    );

    // Every subscriber heard every round of every variant (a round fails otherwise).
    const group = by('group') as {
      devices: number;
      villages: number;
      variants: Record<string, { publishes: number; delivered: number; p100: number }>;
    };
    assert.deepEqual([group.devices, group.villages], [250, 3]);
    assert.deepEqual(
      Object.entries(group.variants).map(([v, x]) => [v, x.publishes]),
      [
        ['device', 250],
        ['village-entries', 3],
        ['village-shared', 3],
        ['all-shared', 1],
      ],
    );
    assert.ok(Object.values(group.variants).every((x) => x.p100 > 0 && x.delivered > 0));

    const coverage = by('coverage') as { rows: number; ours: Record<string, number> };
    assert.equal(coverage.rows, 12000);
    assert.deepEqual(Object.keys(coverage.ours).sort(), ['board', 'broadcast', 'report']);

    // Each round already failed unless every device got the command once, with notBefore the end
    // of its village's quiet hours at night and the broadcast's start by day.
    const quiet = by('quiet') as {
      devices: number;
      perCall: { ours: number; old: number }[];
      dispatchLoop: { deliveries: number; ours: number; old: number };
      night: { p100: number; resent: number };
      day: { p100: number; resent: number };
      raw: { ours: { notBefore: string }[]; baseline: { notBefore: string }[] };
    };
    assert.equal(quiet.devices, 81);
    assert.ok(quiet.perCall.length > 0 && quiet.perCall.every((c) => c.ours > 0 && c.old > 0));
    assert.equal(quiet.dispatchLoop.deliveries, 10_000);
    assert.ok(quiet.night.p100 > 0 && quiet.day.p100 > 0);
    assert.deepEqual([quiet.night.resent, quiet.day.resent], [0, 0], 'one command each');
    const [night, day] = [quiet.raw.ours[0].notBefore, quiet.raw.baseline[0].notBefore];
    assert.match(night, /:00\.000Z$/, 'held to the minute the window ends');
    assert.ok(Date.parse(night) > Date.parse(day), 'held at night, not by day');

    const storm = by('storm') as { devices: number; allPlayedMs: number; allOnlineMs: number };
    assert.equal(storm.devices, 81);
    assert.ok(storm.allPlayedMs > 0 && storm.allOnlineMs > 0);
  });
});
