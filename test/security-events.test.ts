import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { PROTOCOL_VERSION, type RejectedEvent } from '../src/contract/messages.js';
import { COMMAND_REJECTIONS } from '../src/contract/signing.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { SecurityEvents } from '../src/devices/security-events.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, rawClient, rejected } from './support/mqtt.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

const P = 'dalaba/v1';
let seq = 0;

function rejectedEvent(fields: Partial<RejectedEvent> = {}): RejectedEvent {
  return {
    v: PROTOCOL_VERSION,
    type: 'rejected',
    id: `rej-${process.pid}-${seq++}`,
    ts: Date.now(),
    reason: 'bad_signature',
    ...fields,
  };
}

/** The value of one labelled series on /metrics. */
async function metric(s: TestServer, name: string, reason: string): Promise<number> {
  const text = (await api(s.url).get('/metrics').expect(200)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{reason="${reason}"} `));
  assert.ok(line, `${name}{reason="${reason}"} is exported`);
  return Number(line.split(' ')[1]);
}

/** The same behaviour on SQLite (the one writer) and on PostgreSQL (its BIGINT and COUNT as strings). */
for (const database of ['SQLite', 'PostgreSQL'] as const)
  describe(`security events on ${database}: devices report the commands they refused`, () => {
    let s: TestServer;
    let env: Record<string, string> = {};
    let drop: (() => Promise<void>) | undefined;
    let client: ReturnType<typeof api>;
    let village: string;
    let other: string;
    const devices: { id: string; secret: string }[] = [];
    const clients: MqttClient[] = [];

    /** Connects as the device and publishes on its evt topic; resolves on PUBACK (after the store). */
    const publish = (i: number, payload: unknown) =>
      clients[i].publishAsync(`${P}/d/${devices[i].id}/evt`, JSON.stringify(payload), { qos: 1 });

    beforeAll(async () => {
      // A burst above the default 60 per device: the flood test sends one device's hundreds at once.
      if (database === 'PostgreSQL') {
        const fresh = await freshPostgresSchema();
        drop = fresh.drop;
        env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: fresh.schema };
      }
      s = await startTestServer({
        env: { ...env, MQTT_DEVICE_BURST: '1000', MQTT_DEVICE_RATE: '1000' },
      });
      client = api(s.url, s.adminToken);
      const fx = fixtures(s.url, s.adminToken);
      const town = (await fx.newTown()).code;
      village = (await fx.newVillage(town)).code;
      other = (await fx.newVillage(town)).code;
      devices.push(
        await fx.newDevice(village),
        await fx.newDevice(village),
        await fx.newDevice(other),
      );
      for (const d of devices)
        clients.push(
          await rawClient(mqttUrl(s), { clientId: d.id, username: d.id, password: d.secret }),
        );
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.endAsync()));
      await s?.close();
      await drop?.();
    });

    it('counts, stores and shows a refused command on the API and the board', async () => {
      const before = await metric(s, 'dalaba_command_rejections_total', 'bad_signature');
      await publish(
        0,
        rejectedEvent({
          ref: 'cmd-forged-1',
          command: 'play',
          reason: 'bad_signature',
          seq: 41,
          kid: 'ed25519-0123456789abcdef',
          detail: 'signature does not verify with ed25519-0123456789abcdef',
        }),
      );
      assert.equal(await metric(s, 'dalaba_command_rejections_total', 'bad_signature'), before + 1);
      // Every reason is exported from the start, at zero until a device reports it.
      for (const reason of COMMAND_REJECTIONS)
        assert.ok((await metric(s, 'dalaba_command_rejections_total', reason)) >= 0);

      const events = (await client.get(`/api/devices/${devices[0].id}/security-events`).expect(200))
        .body as Record<string, unknown>[];
      assert.equal(events.length, 1);
      const { id, at, ...rest } = events[0];
      assert.equal(typeof id, 'number');
      assert.ok(Math.abs(Date.parse(at as string) - Date.now()) < 60_000, `at ${String(at)}`);
      assert.deepEqual(rest, {
        deviceId: devices[0].id,
        kind: 'command_rejected',
        reason: 'bad_signature',
        detail: 'signature does not verify with ed25519-0123456789abcdef',
        commandId: 'cmd-forged-1',
        seq: 41,
        kid: 'ed25519-0123456789abcdef',
      });

      const board = (await client.get('/api/status/villages').expect(200)).body as {
        items: { code: string; securityEvents: number }[];
        summary: { securityEvents: number; commandSigning: string };
      };
      assert.equal(board.items.find((v) => v.code === village)?.securityEvents, 1);
      assert.equal(board.items.find((v) => v.code === other)?.securityEvents, 0);
      assert.equal(board.summary.securityEvents, 1);
      assert.equal(board.summary.commandSigning, 'optional');
      assert.ok(
        s
          .logs()
          .some(
            (l) =>
              l.context === 'security' && /refused play id=cmd-forged-1: bad_signature/.test(l.msg),
          ),
        'logged with the device and command',
      );
    });

    it('lists a device’s events newest first, with a limit', async () => {
      await publish(1, rejectedEvent({ reason: 'replayed', seq: 3, ref: 'cmd-old' }));
      await publish(1, rejectedEvent({ reason: 'expired', ref: 'cmd-late' }));
      const all = (await client.get(`/api/devices/${devices[1].id}/security-events`).expect(200))
        .body as { reason: string; commandId: string }[];
      assert.deepEqual(
        all.map((e) => [e.reason, e.commandId]),
        [
          ['expired', 'cmd-late'],
          ['replayed', 'cmd-old'],
        ],
      );
      const one = (
        await client.get(`/api/devices/${devices[1].id}/security-events?limit=1`).expect(200)
      ).body as unknown[];
      assert.equal(one.length, 1);
      // The other device's list holds only its own.
      assert.equal(
        (await client.get(`/api/devices/${devices[0].id}/security-events`).expect(200)).body.length,
        1,
      );
    });

    it('refuses a malformed rejected event as invalid, and stores nothing of it', async () => {
      const invalid = await rejected(s, 'invalid');
      const counted = await metric(s, 'dalaba_command_rejections_total', 'unsigned');
      await publish(2, { ...rejectedEvent(), reason: 'made_up_reason' });
      await publish(2, { ...rejectedEvent({ reason: 'unsigned' }), seq: -1 });
      await publish(2, { ...rejectedEvent({ reason: 'unsigned' }), extra: 'field' });
      assert.equal(await rejected(s, 'invalid'), invalid + 3);
      assert.equal(await metric(s, 'dalaba_command_rejections_total', 'unsigned'), counted);
      assert.deepEqual(
        (await client.get(`/api/devices/${devices[2].id}/security-events`).expect(200)).body,
        [],
      );
    });

    it('stores a flood in a few transactions and logs it a few times, not once per event', async () => {
      const writes = s.server.app.get(WriteQueue);
      await s.server.app.get(SecurityEvents).flush();
      const before = writes.transactions;
      const logsBefore = s.logs().filter((l) => l.context === 'security').length;
      const N = 400;
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          publish(2, rejectedEvent({ reason: 'unknown_key', ref: `flood-${i}`, seq: i + 1 })),
        ),
      );
      const transactions = writes.transactions - before;
      assert.ok(transactions <= N / 20, `${N} events took ${transactions} transactions`);
      const stored = (
        await client.get(`/api/devices/${devices[2].id}/security-events?limit=500`).expect(200)
      ).body as { commandId: string }[];
      assert.equal(stored.length, N);
      assert.equal(new Set(stored.map((e) => e.commandId)).size, N);
      const logged = s.logs().filter((l) => l.context === 'security').length - logsBefore;
      assert.ok(logged <= 2, `${N} events of one device and reason logged ${logged} times`);
    });

    it('answers 404 for an unknown device and 400 for a bad limit; a viewer may read', async () => {
      const res = await client.get('/api/devices/no-such-device/security-events').expect(404);
      assert.equal(res.body.error, 'DEVICE_NOT_FOUND');
      await client.get(`/api/devices/${devices[0].id}/security-events?limit=0`).expect(400);
      await client.get(`/api/devices/${devices[0].id}/security-events?limit=x`).expect(400);
      const viewer = await tokenFor(s, 'viewer');
      await api(s.url, viewer).get(`/api/devices/${devices[0].id}/security-events`).expect(200);
      await api(s.url).get(`/api/devices/${devices[0].id}/security-events`).expect(401);
    });

    it('keeps recorded events across a restart', async () => {
      const dataDir = s.dataDir;
      await Promise.all(clients.splice(0).map((c) => c.endAsync()));
      await s.close();
      s = await startTestServer({ dataDir, adminToken: s.adminToken, env });
      client = api(s.url, s.adminToken);
      const events = (await client.get(`/api/devices/${devices[1].id}/security-events`).expect(200))
        .body as { reason: string }[];
      assert.deepEqual(
        events.map((e) => e.reason),
        ['expired', 'replayed'],
      );
    });
  });
