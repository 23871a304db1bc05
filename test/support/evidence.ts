import assert from 'node:assert/strict';
import { DataSource } from 'typeorm';
import type { DeviceAgent } from '../../devices/agent.js';
import { EvidenceChain } from '../../src/evidence/evidence-chain.js';
import type { Mismatch, VerifyResult } from '../../src/evidence/evidence-verifier.js';
import { createBroadcast, DELIVERY_ENV, deliveryReached, newClip } from './broadcasts.js';
import { runCli } from './cli.js';
import { fixtures } from './fixtures.js';
import { mqttUrl, startAgentOnline } from './mqtt.js';
import { api, TestServer } from './server.js';

export { DELIVERY_ENV };

/** What the evidence scenario made: a played broadcast with a manual confirmation, a cancelled one. */
export interface EvidenceScenario {
  played: string;
  cancelled: string;
  /** A delivery of `played` that went all the way to `played` (several events). */
  playedDelivery: string;
  /** The delivery of `played` whose device was offline (no event: still pending). */
  waitingDelivery: string;
  offlineDevice: { id: string; secret: string };
  cancelledDelivery: string;
  confirmation: string;
  agents: DeviceAgent[];
}

/**
 * Two devices play a broadcast, a third is offline (its village confirmed by hand), and a second
 * broadcast to the offline device is cancelled: every kind of row the chain proves.
 */
export async function evidenceScenario(s: TestServer): Promise<EvidenceScenario> {
  const fx = fixtures(s.url, s.adminToken);
  const town = await fx.newTown({});
  const villages = [
    await fx.newVillage(town.code),
    await fx.newVillage(town.code),
    await fx.newVillage(town.code),
  ];
  const devices = [];
  for (const v of villages)
    devices.push(await fx.newDevice(v.code, { type: 'village_loudspeaker' }));
  const agents = [
    await startAgentOnline(s, mqttUrl(s), devices[0], { speed: 0 }),
    await startAgentOnline(s, mqttUrl(s), devices[1], { speed: 0 }),
  ];
  const clip = await newClip(s, 1);
  let played = '';
  const plays = [
    deliveryReached(s, () => played, devices[0].id, 'played'),
    deliveryReached(s, () => played, devices[1].id, 'played'),
  ];
  played = (
    await createBroadcast(s, {
      title: '证据链测试',
      clipId: clip.id,
      level: 'III',
      target: { villages: villages.map((v) => v.code) },
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    })
  ).id;
  await Promise.all(plays);
  const confirmation = (
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${played}/confirmations`)
      .send({ village: villages[2].code, method: 'phone', by: '村支书' })
      .expect(201)
  ).body.id as string;
  const cancelled = (
    await createBroadcast(s, {
      title: '取消测试',
      clipId: clip.id,
      level: 'routine',
      target: { villages: [villages[2].code] },
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    })
  ).id;
  await api(s.url, s.adminToken)
    .post(`/api/broadcasts/${cancelled}/cancel`)
    .send({ reason: '测试中止' })
    .expect(200);
  const ds = s.server.app.get(DataSource);
  const deliveryOf = async (broadcast: string, device: string) =>
    (
      (await ds.query(
        `SELECT id FROM ${table(s, 'deliveries')} WHERE broadcast_id = ${ph(s, 1)} AND device_id = ${ph(s, 2)}`,
        [broadcast, device],
      )) as { id: string }[]
    )[0].id;
  return {
    played,
    cancelled,
    playedDelivery: await deliveryOf(played, devices[0].id),
    waitingDelivery: await deliveryOf(played, devices[2].id),
    offlineDevice: devices[2],
    cancelledDelivery: await deliveryOf(cancelled, devices[2].id),
    confirmation,
    agents,
  };
}

/** The table's name as SQL, in the test's PostgreSQL schema when there is one. */
export function table(s: TestServer, name: string): string {
  const md = s.server.app.get(DataSource).getMetadata(name);
  return md.tablePath
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
}

/** The i-th placeholder on this server's database. */
export function ph(s: TestServer, i: number): string {
  return s.server.app.get(DataSource).options.type === 'postgres' ? `$${i}` : '?';
}

/** Runs SQL straight on the server's database, as someone with the database password would. */
export async function sql(s: TestServer, text: string, params: unknown[] = []): Promise<unknown> {
  return s.server.app.get(DataSource).query(text, params);
}

/** The entries proving a subject (a delivery, a confirmation, a broadcast's cancel), in order. */
export async function entriesOf(
  s: TestServer,
  subject: string,
): Promise<{ seq: number; kind: string; body: Record<string, unknown>; hash: string }[]> {
  const rows = (await sql(
    s,
    `SELECT seq, kind, body, hash FROM ${table(s, 'evidence_entries')} WHERE subject = ${ph(s, 1)} ORDER BY seq`,
    [subject],
  )) as { seq: unknown; kind: string; body: string; hash: string }[];
  return rows.map((r) => ({
    seq: Number(r.seq),
    kind: r.kind,
    body: JSON.parse(r.body) as Record<string, unknown>,
    hash: r.hash,
  }));
}

/** `npm run cli -- evidence verify …` against the server's database, its JSON answer parsed. */
export async function verifyCli(
  s: TestServer,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number; result: VerifyResult; stderr: string }> {
  const out = await runCli(['evidence', 'verify', '--json', ...args], {
    DATA_DIR: s.dataDir,
    MQTT_PORT: '0',
    ...env,
  });
  assert.ok(out.stdout.trim(), `no answer from evidence verify: ${out.stderr}`);
  return { code: out.code, result: JSON.parse(out.stdout) as VerifyResult, stderr: out.stderr };
}

/** Asserts the check failed (exit 1) and that its first mismatch is this one. */
export function assertFirst(
  got: { code: number; result: VerifyResult },
  expected: Partial<Omit<Mismatch, 'problem'>> & { problem?: string },
): void {
  assert.equal(got.code, 1, `verify should fail: ${JSON.stringify(got.result)}`);
  const first = got.result.first!;
  assert.ok(first, 'a mismatch is named');
  const { problem, ...rest } = expected;
  assert.deepEqual(
    Object.fromEntries(Object.keys(rest).map((k) => [k, first[k as keyof Mismatch]])),
    rest,
    first.problem,
  );
  if (problem) assert.match(first.problem, new RegExp(problem));
}

export const chainOf = (s: TestServer) => s.server.app.get(EvidenceChain);
