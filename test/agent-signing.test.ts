import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import mqtt, { MqttClient } from 'mqtt';
import { AgentOptions, DeviceAgent } from '../devices/agent.js';
import { Fleet } from '../devices/fleet.js';
import {
  AnnouncedKey,
  endorsementInput,
  generateKeyPair,
  KeyPair,
  keyIdOf,
  signBytes,
  signCommand,
  signingInput,
  verifyBytes,
  type CommandRejection,
  type ConfigCommand,
  type KeysCommand,
  type PingCommand,
  type PlayCommand,
} from '../src/contract/index.js';
import { DeviceGateway } from '../src/devices/device-gateway.js';
import { MqttTransport } from '../src/mqtt/transport.js';
import { ROOT } from './support/cli.js';
import { fixtures } from './support/fixtures.js';
import { LiteralDevice } from './support/literal-device.js';
import { freePort, mqttUrl, next, startAgentOnline } from './support/mqtt.js';
import { startTestServer, tempDir, TestServer } from './support/server.js';

type Signer = KeyPair & { kid: string };

function newSigner(): Signer {
  const pair = generateKeyPair('ed25519');
  return { ...pair, kid: keyIdOf(pair.alg, pair.publicKey) };
}

const publicOf = (k: Signer) => ({ kid: k.kid, alg: k.alg, publicKey: k.publicKey });

/** Serves one clip, so a play the agent accepts really downloads and plays. */
async function clipServer(): Promise<{ server: Server; clip: PlayCommand['clip'] }> {
  const body = randomBytes(2000);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    clip: {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/clip.mp3`,
      sha256: createHash('sha256').update(body).digest('hex'),
      bytes: body.length,
      durationMs: 20,
      codec: 'mp3',
    },
  };
}

let n = 0;
function playOf(clip: PlayCommand['clip'], overrides: Partial<PlayCommand> = {}): PlayCommand {
  const now = Date.now();
  n++;
  return {
    v: 1,
    type: 'play',
    id: `play-${n}`,
    ts: now,
    deliveryId: `dl-${n}-${randomBytes(3).toString('hex')}`,
    broadcastId: `bc-${n}`,
    level: 'I',
    clip,
    notBefore: now,
    expiresAt: now + 60_000,
    repeat: 1,
    ...overrides,
  };
}

function pingOf(): PingCommand {
  return { v: 1, type: 'ping', id: `ping-${++n}`, ts: Date.now() };
}

/** Signs as the server does (section 9.2): `to`, `seq`, `exp` five minutes ahead, `kid`, `sig`. */
function sign<T extends object>(
  cmd: T,
  key: Signer,
  to: string,
  seq: number,
  exp = Date.now() + 300_000,
) {
  return signCommand(cmd, { to, seq, exp }, key);
}

/** Counts every time the speaker actually starts something. */
function playbacks(agent: DeviceAgent): () => number {
  let count = 0;
  agent.on('playback', () => count++);
  return () => count;
}

/**
 * Resolves with the reason the agent refuses the command `id` for. By id: the test server's own
 * `keys` and `config` on connecting may be refused too (unsigned, or signed by the server's key,
 * which these agents are not given).
 */
function refusalOf(agent: DeviceAgent, id: string): Promise<CommandRejection> {
  return new Promise((resolve) => {
    const on = (reason: CommandRejection, cmd: { id: string }) => {
      if (cmd.id !== id) return;
      agent.off('refused', on);
      resolve(reason);
    };
    agent.on('refused', on);
  });
}

/** Resolves when the agent has accepted the command `id`. */
function accepted(agent: DeviceAgent, id: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (cmd: { id: string }) => {
      if (cmd.id !== id) return;
      agent.off('command', on);
      resolve();
    };
    agent.on('command', on);
  });
}

/** Resolves when the agent has reported `played` for the delivery. */
function played(agent: DeviceAgent, deliveryId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (d: string, state: string) => {
      if (d !== deliveryId || state !== 'played') return;
      agent.off('delivery', on);
      resolve();
    };
    agent.on('delivery', on);
  });
}

describe('a verifying agent on the server’s embedded broker', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let village: string;
  let clips: Awaited<ReturnType<typeof clipServer>>;
  const server = newSigner();
  const attacker = newSigner();
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
    clips = await clipServer();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    clips.server.close();
    await s.close();
  });

  /** Publishes straight onto the device's `cmd` topic, past the server's own command code. */
  const inject = (deviceId: string, message: object) =>
    s.server.app
      .get(MqttTransport)
      .publish(`dalaba/v1/d/${deviceId}/cmd`, Buffer.from(JSON.stringify(message)), { qos: 1 });

  /** The `rejected` events the server receives from a device. */
  const rejectionsAtServer = (deviceId: string) => {
    const seen: Record<string, unknown>[] = [];
    s.server.app.get(DeviceGateway).events.subscribe(({ deviceId: from, message }) => {
      if (from === deviceId && message.type === 'rejected' && message.command === 'play')
        seen.push({ ...message });
    });
    return seen;
  };

  const verifyingDevice = async (options: Partial<AgentOptions> = {}) => {
    const d = await fx.newDevice(village);
    const agent = await startAgentOnline(s, mqttUrl(s), d, {
      serverKeys: [publicOf(server)],
      ...options,
    });
    agents.push(agent);
    return { id: d.id, agent };
  };

  it('refuses a forged play published with broker access, reports it, and never plays it', async () => {
    const { id, agent } = await verifyingDevice();
    const plays = playbacks(agent);
    const atServer = rejectionsAtServer(id);

    // Signed with a key of the attacker's own: the device has never heard of it.
    const ownKey = sign(playOf(clips.clip), attacker, id, 1);
    let refusal = refusalOf(agent, ownKey.id);
    await inject(id, ownKey);
    assert.equal(await refusal, 'unknown_key');

    // The station's kid, the attacker's signature.
    const borrowedKid = { ...sign(playOf(clips.clip), attacker, id, 2), kid: server.kid };
    refusal = refusalOf(agent, borrowedKid.id);
    await inject(id, borrowedKid);
    assert.equal(await refusal, 'bad_signature');

    // A genuine command changed after signing: a higher level, a different clip.
    const genuine = sign(playOf(clips.clip, { level: 'routine' }), server, id, 3);
    refusal = refusalOf(agent, genuine.id);
    await inject(id, { ...genuine, level: 'I' });
    assert.equal(await refusal, 'bad_signature');

    // The genuine one still plays: the refusals were about the forgeries, not the device.
    const done = played(agent, genuine.deliveryId);
    await inject(id, genuine);
    await done;
    assert.equal(plays(), 1);
    assert.deepEqual(
      atServer.map((r) => [r.ref, r.command, r.reason, r.seq, r.kid]),
      [
        [ownKey.id, 'play', 'unknown_key', 1, attacker.kid],
        [borrowedKid.id, 'play', 'bad_signature', 2, server.kid],
        [genuine.id, 'play', 'bad_signature', 3, server.kid],
      ],
    );
  }, 60_000);

  it('in strict mode refuses an unsigned play as `unsigned`', async () => {
    const { id, agent } = await verifyingDevice({ strict: true });
    const plays = playbacks(agent);
    const atServer = rejectionsAtServer(id);
    const unsigned = playOf(clips.clip);
    const refusal = refusalOf(agent, unsigned.id);
    await inject(id, unsigned);
    assert.equal(await refusal, 'unsigned');
    const ping = sign(pingOf(), server, id, 1);
    const pong = accepted(agent, ping.id);
    await inject(id, ping);
    await pong;
    assert.equal(plays(), 0);
    assert.deepEqual(
      atServer.map((r) => [r.ref, r.reason]),
      [[unsigned.id, 'unsigned']],
    );
  }, 60_000);
});

describe('the literal device (docs/protocol.md alone) on the server’s embedded broker', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let village: string;
  const server = newSigner();
  const attacker = newSigner();

  beforeAll(async () => {
    s = await startTestServer();
    fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
  });
  afterAll(() => s.close());

  it('refuses a forgery and a replay, and answers a genuine ping, from section 9 alone', async () => {
    const d = await fx.newDevice(village);
    const device = new LiteralDevice(s, d, { serverKeys: [publicOf(server)] });
    await device.connect();
    try {
      const gateway = s.server.app.get(DeviceGateway);
      const answer = (ref: string) =>
        next(
          gateway.events,
          (e) => e.deviceId === d.id && 'ref' in e.message && e.message.ref === ref,
        );
      const inject = (message: object) =>
        s.server.app
          .get(MqttTransport)
          .publish(`dalaba/v1/d/${d.id}/cmd`, Buffer.from(JSON.stringify(message)), { qos: 1 });

      const forged = sign(
        playOf({
          url: 'http://127.0.0.1:9/x.mp3',
          sha256: '0'.repeat(64),
          bytes: 1,
          durationMs: 1,
          codec: 'mp3',
        }),
        attacker,
        d.id,
        1,
      );
      let reply = answer(forged.id);
      await inject(forged);
      assert.deepEqual(pick((await reply).message, ['type', 'reason', 'command', 'kid']), {
        type: 'rejected',
        reason: 'unknown_key',
        command: 'play',
        kid: attacker.kid,
      });
      const ping = sign(pingOf(), server, d.id, 5);
      reply = answer(ping.id);
      await inject(ping);
      assert.equal((await reply).message.type, 'pong');
      reply = answer(ping.id);
      await inject(ping);
      assert.deepEqual(pick((await reply).message, ['type', 'reason', 'seq']), {
        type: 'rejected',
        reason: 'replayed',
        seq: 5,
      });
      assert.equal(device.starts.size, 0);
    } finally {
      await device.close();
    }
  }, 60_000);
});

function pick(o: object, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, (o as Record<string, unknown>)[k]]));
}

/**
 * A Mosquitto with no ACL and anonymous logins, as a station might run it by mistake: any client
 * can publish on any device's `cmd` topic. Spawned privately so the test owns its port.
 */
async function openMosquitto(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = tempDir('dalaba-open-mosquitto-');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false'];
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => proc.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('running')) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${out}`)));
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('a verifying agent behind a Mosquitto without ACLs', () => {
  let broker: Awaited<ReturnType<typeof openMosquitto>>;
  let clips: Awaited<ReturnType<typeof clipServer>>;
  /** Anyone on the broker: the attacker, and (with the right key) the test's stand-in server. */
  let outsider: MqttClient;
  const evts: { topic: string; message: Record<string, unknown> }[] = [];
  const agents: DeviceAgent[] = [];
  const k1 = newSigner();

  beforeAll(async () => {
    broker = await openMosquitto();
    clips = await clipServer();
    outsider = await mqtt.connectAsync(broker.url, {
      clientId: `outsider-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    outsider.on('message', (topic, payload) =>
      evts.push({ topic, message: JSON.parse(payload.toString()) as Record<string, unknown> }),
    );
    await outsider.subscribeAsync('dalaba/v1/d/+/evt', { qos: 1 });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await outsider?.endAsync();
    clips?.server.close();
    await broker?.stop();
  });

  const publish = (id: string, message: object | Buffer) =>
    outsider.publishAsync(
      `dalaba/v1/d/${id}/cmd`,
      Buffer.isBuffer(message) ? message : Buffer.from(JSON.stringify(message)),
      { qos: 1 },
    );

  const device = async (options: Partial<AgentOptions> = {}) => {
    const id = `sig-${randomBytes(5).toString('hex')}`;
    const agent = new DeviceAgent({
      url: broker.url,
      id,
      secret: 'unused-by-this-broker',
      speed: 0,
      serverKeys: [publicOf(k1)],
      ...options,
    });
    await agent.start();
    agents.push(agent);
    return { id, agent };
  };

  /**
   * Sends `cmd`, expects the agent to refuse it with `reason`; returns the `rejected` it sent.
   * `current` signs the ping that proves the report was sent once: a key the agent still takes.
   */
  const expectRefused = async (
    agent: DeviceAgent,
    cmd: { id: string } & object,
    reason: CommandRejection,
    current: Signer = k1,
  ) => {
    const refusal = refusalOf(agent, cmd.id);
    await publish(agent.id, cmd);
    assert.equal(await refusal, reason);
    // A ping signed after it comes back only once the `rejected` has been published before it.
    await expectAccepted(agent, sign(pingOf(), current, agent.id, agent.highestSeq + 1));
    const sent = evts.filter(
      (e) => e.topic === `dalaba/v1/d/${agent.id}/evt` && e.message.ref === cmd.id,
    );
    assert.equal(sent.length, 1, 'one rejected event per refused command');
    return sent[0].message;
  };

  /** Sends `cmd` and waits until the agent has accepted it (for a ping: and its pong arrived). */
  const expectAccepted = async (agent: DeviceAgent, cmd: { id: string; type: string }) => {
    const ok = accepted(agent, cmd.id);
    const pong =
      cmd.type === 'ping'
        ? new Promise<void>((resolve) => {
            const on = (topic: string, payload: Buffer) => {
              const m = JSON.parse(payload.toString()) as { type?: string; ref?: string };
              if (topic.endsWith(`/${agent.id}/evt`) && m.type === 'pong' && m.ref === cmd.id) {
                outsider.off('message', on);
                resolve();
              }
            };
            outsider.on('message', on);
          })
        : Promise.resolve();
    await publish(agent.id, cmd);
    await ok;
    await pong;
  };

  it('refuses an unsigned play from anyone on the broker in strict mode, and reports it', async () => {
    const { agent } = await device({ strict: true });
    const plays = playbacks(agent);
    const cmd = playOf(clips.clip);
    const report = await expectRefused(agent, cmd, 'unsigned');
    assert.deepEqual(
      { ref: report.ref, command: report.command, reason: report.reason, type: report.type },
      { ref: cmd.id, command: 'play', reason: 'unsigned', type: 'rejected' },
    );
    assert.equal(plays(), 0);
  }, 60_000);

  it('a fleet given the keys passes them to each agent: none plays a forged play', async () => {
    const members = Array.from({ length: 20 }, () => ({
      id: `fleet-${randomBytes(5).toString('hex')}`,
      secret: 'unused-by-this-broker',
    }));
    const fleet = new Fleet(members, { url: broker.url, speed: 0, serverKeys: [publicOf(k1)] });
    try {
      assert.equal((await fleet.start()).connected, members.length);
      const attacker = newSigner();
      let plays = 0;
      for (const a of fleet.agents) a.on('playback', () => plays++);
      const refusals = fleet.agents.map((agent) => {
        const cmd = sign(playOf(clips.clip), attacker, agent.id, 1);
        const refused = refusalOf(agent, cmd.id);
        return publish(agent.id, cmd).then(() => refused);
      });
      assert.deepEqual(
        await Promise.all(refusals),
        members.map(() => 'unknown_key'),
      );
      assert.equal(plays, 0);
    } finally {
      await fleet.stop();
    }
  }, 60_000);

  it('verifies SM2 (GB/T 32918) as it says in its hello: genuine taken, altered refused', async () => {
    const pair = generateKeyPair('sm2');
    const sm2Key: Signer = { ...pair, kid: keyIdOf('sm2', pair.publicKey) };
    const { id, agent } = await device({ serverKeys: [publicOf(sm2Key)] });
    const genuine = sign(playOf(clips.clip), sm2Key, id, 1);
    const plays = playbacks(agent);
    const done = played(agent, genuine.deliveryId);
    await publish(id, genuine);
    await done;
    const altered = { ...sign(playOf(clips.clip), sm2Key, id, 2), repeat: 3 };
    await expectRefused(agent, altered, 'bad_signature', sm2Key);
    assert.equal(plays(), 1);
  }, 60_000);

  it('refuses a captured genuine play replayed later, and plays it only once', async () => {
    const { id, agent } = await device();
    const plays = playbacks(agent);
    const genuine = sign(playOf(clips.clip), k1, id, 7);
    const captured = Buffer.from(JSON.stringify(genuine));
    const done = played(agent, genuine.deliveryId);
    await publish(id, captured);
    await done;
    assert.equal(agent.highestSeq, 7);
    const report = await expectRefused(agent, JSON.parse(captured.toString()), 'replayed');
    assert.equal(report.seq, 7);
    assert.equal(plays(), 1);
    // An older, never-seen genuine command is refused too: `seq` only grows.
    const older = sign(playOf(clips.clip), k1, id, 5);
    await expectRefused(agent, older, 'replayed');
    assert.equal(plays(), 1);
  }, 60_000);

  it('refuses an expired command, one for another device, and one signed by an unknown key', async () => {
    const { id, agent } = await device();
    const plays = playbacks(agent);
    await expectRefused(agent, sign(playOf(clips.clip), k1, id, 1, Date.now() - 1000), 'expired');
    const other = await expectRefused(
      agent,
      sign(playOf(clips.clip), k1, 'sig-some-other-device', 2),
      'wrong_device',
    );
    assert.equal(other.kid, k1.kid);
    const stranger = newSigner();
    const unknown = await expectRefused(
      agent,
      sign(playOf(clips.clip), stranger, id, 3),
      'unknown_key',
    );
    assert.equal(unknown.kid, stranger.kid);
    assert.equal(plays(), 0);
    // Only the pings expectRefused sent after each refusal moved the sequence.
    assert.equal(agent.highestSeq, 3);
  }, 60_000);

  it('follows a rotation endorsed by the old key, honours the overlap, then refuses the revoked key', async () => {
    const { id, agent } = await device();
    const onlyK1 = await device();
    const k2 = newSigner();
    const endorsed: AnnouncedKey = {
      ...publicOf(k2),
      endorsedBy: k1.kid,
      endorsement: signBytes(k1.alg, k1.privateKey, endorsementInput(publicOf(k2))),
    };
    const announce = (to: string, seq: number, keys: AnnouncedKey[], revoked: string[]) =>
      sign<KeysCommand>(
        { v: 1, type: 'keys', id: `keys-${++n}`, ts: Date.now(), keys, revoked },
        k2,
        to,
        seq,
      );

    // A self-made key announced by an attacker is not taken, and nothing changes.
    const rogue = newSigner();
    const rogueAnnouncement = sign<KeysCommand>(
      {
        v: 1,
        type: 'keys',
        id: `keys-${++n}`,
        ts: Date.now(),
        keys: [publicOf(rogue)],
        revoked: [k1.kid],
      },
      rogue,
      id,
      1,
    );
    await expectRefused(agent, rogueAnnouncement, 'unknown_key');
    assert.deepEqual(
      agent.heldServerKeys().map((k) => [k.kid, k.revoked]),
      [[k1.kid, undefined]],
    );

    const overlapUntil = Date.now() + 3_600_000;
    const rotation = announce(id, 10, [endorsed, { ...publicOf(k1), until: overlapUntil }], []);
    await expectAccepted(agent, rotation);
    assert.deepEqual(
      agent
        .heldServerKeys()
        .map((k) => [k.kid, k.until])
        .sort(),
      [
        [k1.kid, overlapUntil],
        [k2.kid, undefined],
      ].sort(),
    );
    await expectAccepted(agent, sign(pingOf(), k2, id, 11));
    // During the overlap a command from a server still signing with the old key is taken.
    await expectAccepted(agent, sign(pingOf(), k1, id, 12));

    const revocation = announce(id, 13, [endorsed], [k1.kid]);
    await expectAccepted(agent, revocation);
    const plays = playbacks(agent);
    await expectRefused(agent, sign(playOf(clips.clip), k1, id, 14), 'revoked_key', k2);
    assert.equal(plays(), 0);
    const fromK2 = sign(playOf(clips.clip), k2, id, 20);
    const done = played(agent, fromK2.deliveryId);
    await publish(id, fromK2);
    await done;
    assert.equal(plays(), 1);

    // A device that only ever knew k1 cannot follow once k1 is revoked: k1's endorsement of k2 no
    // longer counts, so the announcement's own signature is by a key it does not hold.
    await expectRefused(onlyK1.agent, announce(onlyK1.id, 1, [endorsed], [k1.kid]), 'unknown_key');
    assert.deepEqual(
      onlyK1.agent.heldServerKeys().map((k) => k.kid),
      [k1.kid],
    );
  }, 60_000);

  it('takes no keys and no required mode from an unsigned command, while unsigned ones are allowed', async () => {
    const { agent } = await device();
    const k2 = newSigner();
    const unsigned: KeysCommand = {
      v: 1,
      type: 'keys',
      id: `keys-${++n}`,
      ts: Date.now(),
      keys: [publicOf(k2)],
      revoked: [k1.kid],
    };
    await expectRefused(agent, unsigned, 'unsigned');
    assert.deepEqual(
      agent.heldServerKeys().map((k) => [k.kid, k.revoked]),
      [[k1.kid, undefined]],
    );
    // Nor does an unsigned config switch it to required mode: anyone on the broker could send it.
    const unsignedConfig: ConfigCommand = {
      v: 1,
      type: 'config',
      id: `config-${++n}`,
      ts: Date.now(),
      heartbeatIntervalS: 30,
      offlineAfterS: 90,
      signing: 'required',
    };
    await expectAccepted(agent, unsignedConfig);
    assert.equal(agent.signingRequired, false);
    // An unsigned ping is still answered: optional mode, as the migration path needs.
    await expectAccepted(agent, pingOf());
    assert.equal(agent.verifies, true);
    assert.equal(agent.highestSeq, 1, 'only the signed ping after the refusal moved it');
  }, 60_000);

  it('keeps its highest seq, its keys and required mode across a restart (state dir)', async () => {
    const stateDir = tempDir('dalaba-agent-state-');
    const first = await device({ stateDir });
    const id = first.id;
    const genuine = sign(playOf(clips.clip), k1, id, 41);
    const done = played(first.agent, genuine.deliveryId);
    await publish(id, genuine);
    await done;
    const config = sign(
      {
        v: 1 as const,
        type: 'config' as const,
        id: `config-${++n}`,
        ts: Date.now(),
        heartbeatIntervalS: 30,
        offlineAfterS: 90,
        signing: 'required' as const,
      },
      k1,
      id,
      42,
    );
    await expectAccepted(first.agent, config);
    assert.equal(first.agent.signingRequired, true);
    const saved = JSON.parse(readFileSync(join(stateDir, `${id}.json`), 'utf8')) as {
      lastSeq: number;
      required: boolean;
    };
    assert.deepEqual([saved.lastSeq, saved.required], [42, true]);
    await first.agent.stop();

    // The device restarts: a new process, the same state directory, provisioned without `required`.
    const again = new DeviceAgent({
      url: broker.url,
      id,
      secret: 'unused-by-this-broker',
      speed: 0,
      serverKeys: [publicOf(k1)],
      stateDir,
    });
    await again.start();
    agents.push(again);
    const plays = playbacks(again);
    assert.equal(again.highestSeq, 42);
    await expectRefused(again, genuine, 'replayed');
    await expectRefused(again, playOf(clips.clip), 'unsigned');
    assert.equal(plays(), 0);
  }, 60_000);

  it('protocol 1.1: announces its own key and signs playing and played with it, the same key after a restart', async () => {
    const stateDir = tempDir('dalaba-agent-key-');
    const hellos: Record<string, unknown>[] = [];
    const id = `sig-${randomBytes(5).toString('hex')}`;
    const watcher = await mqtt.connectAsync(broker.url, {
      clientId: `w-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      watcher.on('message', (_t, payload) => {
        const m = JSON.parse(payload.toString()) as { hello?: Record<string, unknown> };
        if (m.hello) hellos.push(m.hello);
      });
      await watcher.subscribeAsync(`dalaba/v1/d/${id}/state`, { qos: 1 });
      const { agent } = await device({ id, stateDir, deviceKey: 'ed25519' });
      const key = agent.devicePublicKey!;
      const cmd = sign(playOf(clips.clip), k1, id, 1);
      const done = played(agent, cmd.deliveryId);
      await publish(id, cmd);
      await done;
      await expectAccepted(agent, sign(pingOf(), k1, id, 2));
      const events = evts
        .filter(
          (e) => e.topic === `dalaba/v1/d/${id}/evt` && e.message.deliveryId === cmd.deliveryId,
        )
        .map((e) => e.message);
      const signedStates = events.filter((e) => e.sig !== undefined).map((e) => e.state);
      assert.deepEqual(signedStates, ['playing', 'played']);
      for (const e of events.filter((x) => x.sig !== undefined)) {
        assert.ok(verifyBytes(key.alg, key.publicKey, signingInput(e), e.sig as string));
        assert.ok(
          !verifyBytes(
            key.alg,
            key.publicKey,
            signingInput({ ...e, state: 'failed' }),
            e.sig as string,
          ),
        );
      }
      await agent.stop();
      const again = new DeviceAgent({
        url: broker.url,
        id,
        secret: 'x',
        speed: 0,
        serverKeys: [publicOf(k1)],
        stateDir,
        deviceKey: 'ed25519',
      });
      await again.start();
      agents.push(again);
      assert.deepEqual(again.devicePublicKey, key);
      await expectAccepted(again, sign(pingOf(), k1, id, 3));
      const announced = hellos.map((h) => [h.keyAlg, h.publicKey]);
      assert.deepEqual(announced, [
        ['ed25519', key.publicKey],
        ['ed25519', key.publicKey],
      ]);
      // It holds a server key, so it says it checks signatures, with both algorithms it can.
      assert.deepEqual(hellos[0].verifies, ['ed25519', 'sm2']);
    } finally {
      await watcher.endAsync();
    }
  }, 60_000);
  it('npm run device with a provisioning bundle: verifies from the start, refuses a bundle whose kid lies', async () => {
    const dir = tempDir('dalaba-agent-cli-');
    const id = `cli-${randomBytes(5).toString('hex')}`;
    const bundle = {
      format: 'dalaba-provisioning/1',
      deviceId: id,
      secret: 'unused-by-this-broker',
      mqttUrl: broker.url,
      topicPrefix: 'dalaba/v1',
      protocol: 1,
      signing: { mode: 'required', keys: [publicOf(k1)] },
      serverTime: Date.now(),
    };
    const file = join(dir, 'bundle.json');
    writeFileSync(file, JSON.stringify(bundle));
    const child = spawn(
      process.execPath,
      [join(ROOT, 'dist/devices/main.js'), 'device', '--provisioning', file, '--state-dir', dir],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    process.once('exit', () => child.kill('SIGKILL'));
    let out = '';
    const online = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/online; checks command signatures \(1 key\(s\), unsigned refused/.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`device exited (${code}): ${out}`)));
    });
    await online;
    const rejectedOn = (ref: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const on = (topic: string, payload: Buffer) => {
          const m = JSON.parse(payload.toString()) as Record<string, unknown>;
          if (topic === `dalaba/v1/d/${id}/evt` && m.type === 'rejected' && m.ref === ref) {
            outsider.off('message', on);
            resolve(m);
          }
        };
        outsider.on('message', on);
      });
    const unsigned = playOf(clips.clip);
    let report = rejectedOn(unsigned.id);
    await publish(id, unsigned);
    assert.equal((await report).reason, 'unsigned', 'required mode from the bundle');
    const genuine = sign(pingOf(), k1, id, 3);
    const pong = new Promise<void>((resolve) => {
      const on = (topic: string, payload: Buffer) => {
        const m = JSON.parse(payload.toString()) as Record<string, unknown>;
        if (topic === `dalaba/v1/d/${id}/evt` && m.type === 'pong' && m.ref === genuine.id) {
          outsider.off('message', on);
          resolve();
        }
      };
      outsider.on('message', on);
    });
    await publish(id, genuine);
    await pong;
    report = rejectedOn(genuine.id);
    await publish(id, genuine);
    assert.equal((await report).reason, 'replayed');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    const state = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as { lastSeq: number };
    assert.equal(state.lastSeq, 3);

    // A bundle whose key id is not its key's: a typo or a tampered bundle is refused at start.
    const lying = {
      ...bundle,
      signing: { ...bundle.signing, keys: [{ ...publicOf(k1), kid: newSigner().kid }] },
    };
    writeFileSync(file, JSON.stringify(lying));
    const bad = spawn(
      process.execPath,
      [join(ROOT, 'dist/devices/main.js'), 'device', '--provisioning', file],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(bad, 'exit')) as [number];
    assert.equal(code, 2);
    assert.match(err, /is not the id of its public key/);
  }, 60_000);
});
