/**
 * The group-topic question of the benchmark issue: would one publish per village (or one per
 * broadcast) reach devices sooner than one per device? Measured on the product's broker
 * (test/bench/group-broker.ts, its own process) with bare subscribers in the fleet processes, so
 * that only the fan-out differs between variants: no database, no play flow.
 *
 * - `device`: what the product does, one `play` per device on its own topic (per-device delivery
 *   id and signed link);
 * - `village-entries`: one message per village carrying every device's delivery id and link, which
 *   is what a group topic must carry to keep the per-device contract (each device parses it all);
 * - `village-shared`: one message per village with nothing per device (a contract that gave up
 *   per-device delivery ids and links);
 * - `all-shared`: one message for every device on one topic (the same, for a county-wide alert).
 */
import { deviceTopic } from '../../src/contract/topics.js';
import { until } from './delivery.js';
import { BenchFleet, IpcChild } from './fleet.js';
import { percentile } from './stats.js';

export const GROUP_VARIANTS = [
  'device',
  'village-entries',
  'village-shared',
  'all-shared',
] as const;
export type GroupVariant = (typeof GROUP_VARIANTS)[number];

export type GroupRequest =
  | { op: 'start'; devices: { id: string; village: string }[] }
  | { op: 'publish'; variant: GroupVariant; round: string }
  | { op: 'stop' };
type GroupReply =
  | { port: number }
  | { t0: number; publishMs: number; publishes: number; bytes: number; delivered: number }
  | Record<string, never>;

/** The two topics a group variant publishes on (bench only: the contract has neither). */
export function groupTopics(prefix: string) {
  return { village: (code: string) => `${prefix}/v/${code}/cmd`, all: `${prefix}/all/cmd` };
}

export interface GroupRound {
  /** Publishes the broker made, the bytes of their payloads, and the payload bytes devices got. */
  publishes: number;
  bytes: number;
  delivered: number;
  /** From the first publish until the broker's publish calls had all returned. */
  publishMs: number;
  p50: number;
  p99: number;
  p100: number;
}

/** A broker process and `devices` subscribers (ids like the bench's, 100 to a village). */
export async function groupStage(devices: { id: string; village: string }[]) {
  const broker = new IpcChild<GroupRequest, GroupReply>('./group-broker.js', 'group broker');
  const fleet = new BenchFleet();
  const prefix = 'dalaba/v1';
  const t = groupTopics(prefix);
  let seq = 0;
  try {
    const { port } = await broker.request<{ port: number }>({ op: 'start', devices });
    await fleet.listen(
      `mqtt://127.0.0.1:${port}`,
      devices.map(({ id, village }) => ({
        id,
        topics: [deviceTopic(prefix, id, 'cmd'), t.village(village), t.all],
      })),
    );
  } catch (err) {
    await fleet.close();
    await broker.close();
    throw err;
  }
  return {
    /** One round of a variant: every subscriber must hear it once. */
    round: async (variant: GroupVariant): Promise<GroupRound> => {
      const round = `${variant}-${++seq}`;
      const r = await broker.request<{
        t0: number;
        publishMs: number;
        publishes: number;
        bytes: number;
        delivered: number;
      }>({ op: 'publish', variant, round });
      await until(
        async () => (await fleet.heard(round)).heard === devices.length,
        `${devices.length} subscribers to hear ${round}`,
        120_000,
        20,
      );
      const { times } = await fleet.heard(round, true);
      const since = times.map((x) => x - r.t0);
      return {
        publishes: r.publishes,
        bytes: r.bytes,
        delivered: r.delivered,
        publishMs: r.publishMs,
        p50: percentile(since, 0.5),
        p99: percentile(since, 0.99),
        p100: Math.max(...since),
      };
    },
    close: async () => {
      await fleet.close();
      await broker.close();
    },
  };
}
