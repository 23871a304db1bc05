/**
 * Fan-out and confirmation ingest: one round of each against a running server and its fleet,
 * with the correctness checks the smoke test and every benchmark round make.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as wait } from 'node:timers/promises';
import type { BenchFleet } from './fleet.js';
import { percentile } from './stats.js';
import type { BenchServer } from './server.js';

export const hrnow = () => performance.timeOrigin + performance.now();

/** Polls `check` every `everyMs` until it is true; fails naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 120_000,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await wait(everyMs);
  }
}

export interface Stage {
  server: BenchServer;
  fleet: BenchFleet;
  devices: number;
  clipId: string;
}

/** What the database holds for one broadcast: delivery states and `played` events (duplicates show). */
export function storedOutcome(stage: Stage, broadcastId: string) {
  const db = stage.server.readDb();
  try {
    const states = Object.fromEntries(
      (
        db
          .prepare(
            'SELECT state, COUNT(*) AS n FROM deliveries WHERE broadcast_id = ? GROUP BY state',
          )
          .all(broadcastId) as { state: string; n: number }[]
      ).map((r) => [r.state, r.n]),
    ) as Record<string, number>;
    const playedEvents = (
      db
        .prepare(
          `SELECT COUNT(*) AS n FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id
           WHERE d.broadcast_id = ? AND e.to_state = 'played'`,
        )
        .get(broadcastId) as { n: number }
    ).n;
    return { states, playedEvents };
  } finally {
    db.close();
  }
}

/**
 * Throws unless every device got the command and every confirmation is stored exactly once.
 * Resends (a device that did not answer `received` within the ack timeout gets the same command
 * again, which it never plays twice) are counted, not refused: under load they are the protocol.
 */
export function checkExactlyOnce(
  stage: Stage,
  broadcastId: string,
  commands: number[],
): { lost: number; duplicated: number; resent: number } {
  const { states, playedEvents } = storedOutcome(stage, broadcastId);
  const played = states.played ?? 0;
  const lost = stage.devices - played;
  const duplicated = playedEvents - played;
  const resent = commands.filter((n) => n > 1).length;
  const problems = [
    commands.length !== stage.devices &&
      `${commands.length} of ${stage.devices} devices got the command`,
    lost && `${lost} confirmation(s) lost (states ${JSON.stringify(states)})`,
    duplicated && `${duplicated} confirmation(s) stored twice`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`broadcast ${broadcastId}: ${problems.join('; ')}`);
  return { lost, duplicated, resent };
}

async function createBroadcast(stage: Stage): Promise<string> {
  const b = await stage.server.api<{ id: string }>('POST', '/api/broadcasts', {
    title: '压测 bench',
    clipId: stage.clipId,
    level: 'I',
    target: { all: true },
    attentionTone: false,
  });
  return b.id;
}

export async function completed(stage: Stage, id: string): Promise<void> {
  await until(
    async () =>
      (await stage.server.api<{ status: string }>('GET', `/api/broadcasts/${id}`)).status ===
      'completed',
    `broadcast ${id} to complete`,
    120_000,
    20,
  );
}

export interface FanoutRound {
  /** ms from sending the API request until 50%, 99%, 100% of devices had the play command. */
  p50: number;
  p99: number;
  p100: number;
  /** ms until every device had reported `played` (download included, playback time zero). */
  played: number;
  /** ms the API call itself took. */
  api: number;
  /** Devices that got the command more than once (resent after the ack timeout). */
  resent: number;
}

export async function fanoutRound(stage: Stage): Promise<FanoutRound> {
  const t0 = hrnow();
  const id = await createBroadcast(stage);
  const api = hrnow() - t0;
  await stage.fleet.waitPlayed(id, stage.devices);
  await completed(stage, id);
  const times = await stage.fleet.times(id);
  const { resent } = checkExactlyOnce(stage, id, times.commands);
  return {
    resent,
    p50: percentile(times.firstReceived, 0.5) - t0,
    p99: percentile(times.firstReceived, 0.99) - t0,
    p100: Math.max(...times.firstReceived) - t0,
    played: Math.max(...times.played) - t0,
    api,
  };
}

export interface IngestRound {
  /** Confirmations per second until the last one was committed. */
  perSecond: number;
  ms: number;
  /** Server event-loop delay p99 meanwhile, ms (prom-client's monitor, 10 ms resolution). */
  loopP99: number;
  /**
   * The longest an API request (GET of the broadcast: token check and a database read) waited
   * for its answer while the confirmations were being stored, asked every 50 ms: what an operator
   * sending an emergency meanwhile would wait before the server even looked at it.
   */
  apiWaitMax: number;
  lost: number;
  duplicated: number;
}

/** Devices hold the play after `received`; then all confirm `played` at once. */
export async function ingestRound(stage: Stage): Promise<IngestRound> {
  await stage.fleet.hold(true);
  try {
    const id = await createBroadcast(stage);
    const db = stage.server.readDb();
    try {
      const count = db.prepare(
        'SELECT COUNT(*) AS n FROM deliveries WHERE broadcast_id = ? AND state = ?',
      );
      const n = (state: string) => (count.get(id, state) as { n: number }).n;
      await until(
        () => n('received') === stage.devices,
        'every device to hold the play',
        120_000,
        10,
      );
      await stage.server.metric('dalaba_nodejs_eventloop_lag_p99_seconds'); // resets the monitor
      const at = await stage.fleet.confirm();
      let storing = true;
      let apiWaitMax = 0;
      const probe = (async () => {
        while (storing) {
          const t = hrnow();
          await stage.server.api('GET', `/api/broadcasts/${id}`);
          apiWaitMax = Math.max(apiWaitMax, hrnow() - t);
          await wait(50);
        }
      })();
      try {
        await until(
          () => n('played') === stage.devices,
          'every confirmation to be stored',
          300_000,
          2,
        );
      } finally {
        storing = false;
        await probe;
      }
      const ms = hrnow() - at;
      const loopP99 = (await stage.server.metric('dalaba_nodejs_eventloop_lag_p99_seconds')) * 1000;
      await completed(stage, id);
      const times = await stage.fleet.times(id);
      const { lost, duplicated } = checkExactlyOnce(stage, id, times.commands);
      return { perSecond: stage.devices / (ms / 1000), ms, loopP99, apiWaitMax, lost, duplicated };
    } finally {
      db.close();
    }
  } finally {
    await stage.fleet.hold(false);
  }
}
