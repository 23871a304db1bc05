/**
 * The group-topic scenario's broker, in its own process like the server's: the product's
 * EmbeddedBroker (same Aedes options, retained index and packet guard) with a bench policy that
 * lets each device subscribe to its own command topic, its village's and one for all devices.
 * Driven over IPC by test/bench/group.ts; it builds and publishes one variant's commands per round.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/app-config.js';
import { PROTOCOL_VERSION } from '../../src/contract/messages.js';
import type { PlayCommand } from '../../src/contract/messages.js';
import { deviceTopic } from '../../src/contract/topics.js';
import { EmbeddedBroker } from '../../src/mqtt/embedded-broker.js';
import { GROUP_VARIANTS, groupTopics, type GroupRequest, type GroupVariant } from './group.js';

const now = () => performance.timeOrigin + performance.now();

// The server's own defaults (drain timeout, concurrency), on a free port.
const config = loadConfig({ MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }).mqtt;
const broker = new EmbeddedBroker(config);
/** deviceId → village code. */
let villageOf = new Map<string, string>();

/** A play command as the dispatcher builds it (a signed link of the same length). */
function play(round: string, deviceId: string | null): PlayCommand & { round: string } {
  const sha = 'a'.repeat(64);
  const deliveryId = deviceId ? randomUUID() : '';
  const link = deviceId
    ? `http://127.0.0.1:8080/media/${sha}.mp3?d=${deviceId}&e=1767225600000&s=${'f'.repeat(43)}`
    : `http://127.0.0.1:8080/media/${sha}.mp3`;
  return {
    v: PROTOCOL_VERSION,
    type: 'play',
    id: `play-${deliveryId}`,
    ts: Date.now(),
    deliveryId,
    broadcastId: round,
    level: 'I',
    title: '防汛紧急通知 flood warning',
    clip: { url: link, sha256: sha, bytes: 17_000, durationMs: 2000, codec: 'mp3' },
    notBefore: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    repeat: 1,
    round,
  };
}

/**
 * Every message of one variant for one round, built before the clock starts, with the number of
 * devices each reaches.
 */
function messages(
  variant: GroupVariant,
  round: string,
): { topic: string; payload: Buffer; reaches: number }[] {
  const t = groupTopics(config.topicPrefix);
  const byVillage = new Map<string, string[]>();
  for (const [id, v] of villageOf) {
    let ids = byVillage.get(v);
    if (!ids) byVillage.set(v, (ids = []));
    ids.push(id);
  }
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  switch (variant) {
    case 'device':
      return [...villageOf.keys()].map((id) => ({
        topic: deviceTopic(config.topicPrefix, id, 'cmd'),
        payload: json(play(round, id)),
        reaches: 1,
      }));
    case 'village-entries':
      return [...byVillage].map(([v, ids]) => {
        const { deliveryId: _d, clip, ...shared } = play(round, null);
        const devices = Object.fromEntries(
          ids.map((id) => {
            const own = play(round, id);
            return [id, { deliveryId: own.deliveryId, url: own.clip.url }];
          }),
        );
        return {
          topic: t.village(v),
          payload: json({ ...shared, clip, devices }),
          reaches: ids.length,
        };
      });
    case 'village-shared':
      return [...byVillage].map(([v, ids]) => ({
        topic: t.village(v),
        payload: json(play(round, null)),
        reaches: ids.length,
      }));
    case 'all-shared':
      return [{ topic: t.all, payload: json(play(round, null)), reaches: villageOf.size }];
  }
}

async function handle(req: GroupRequest): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      villageOf = new Map(req.devices.map((d) => [d.id, d.village]));
      const t = groupTopics(config.topicPrefix);
      await broker.start({
        authenticate: async () => 'accepted',
        mayPublish: () => false,
        accept: async () => undefined,
        maySubscribe: (clientId, topic) => {
          const v = villageOf.get(clientId);
          return (
            v !== undefined &&
            (topic === deviceTopic(config.topicPrefix, clientId, 'cmd') ||
              topic === t.village(v) ||
              topic === t.all)
          );
        },
        oversized: () => undefined,
      });
      return { port: broker.port };
    }
    case 'publish': {
      if (!GROUP_VARIANTS.includes(req.variant)) throw new Error(`unknown variant ${req.variant}`);
      const batch = messages(req.variant, req.round);
      const bytes = batch.reduce((n, m) => n + m.payload.length, 0);
      const delivered = batch.reduce((n, m) => n + m.payload.length * m.reaches, 0);
      // As the dispatcher does: every publish started at once, then awaited together.
      const t0 = now();
      await Promise.all(batch.map((m) => broker.publish(m.topic, m.payload, { qos: 1 })));
      return { t0, publishMs: now() - t0, publishes: batch.length, bytes, delivered };
    }
    case 'stop':
      await broker.stop();
      return {};
  }
}

process.on('message', (msg: { seq: number; req: GroupRequest }) => {
  handle(msg.req).then(
    (reply) => process.send!({ seq: msg.seq, reply }),
    (err: Error) => process.send!({ seq: msg.seq, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
