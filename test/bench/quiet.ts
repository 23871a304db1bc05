/**
 * Quiet hours: what `endOfQuiet` costs a call against the minute walk it replaced (both in this
 * process, on the same inputs), in a dispatch's loop of one call per delivery, and on the real
 * server: a routine broadcast to devices whose villages are in quiet hours now (every delivery
 * held until the window ends) against the same broadcast by day.
 */
import { endOfQuiet } from '../../src/common/quiet-hours.js';
import { completed, hrnow, type Stage, until } from './delivery.js';
import { endOfQuietMinuteWalk } from './quiet-minute-walk.js';
import { villageOf } from './server.js';
import { percentile } from './stats.js';

type EndOfQuiet = typeof endOfQuiet;
export const IMPLEMENTATIONS: Record<'ours' | 'old', EndOfQuiet> = {
  ours: endOfQuiet,
  old: endOfQuietMinuteWalk,
};

const DAY_MS = 86_400_000;
/** The bench server's zone (TZ_DEFAULT); no daylight saving since 1991, so a fixed +08:00. */
const SERVER_ZONE = 'Asia/Shanghai';
const SERVER_OFFSET_MS = 8 * 3_600_000;

/** One input of the per-call comparison: a window, a zone and instants alike in what they ask. */
export interface QuietCase {
  label: string;
  quietHours: string;
  timeZone: string;
  /**
   * Twelve instants, called in turn: the same local time on consecutive days, so that ours never
   * answers from the wall-clock readings it keeps from the call before.
   */
  froms: number[];
}

const days = (iso: string) => Array.from({ length: 12 }, (_, k) => Date.parse(iso) + k * DAY_MS);

/** 22:05 EDT on the evening before New York's clocks go back, in 2026–2037. */
function newYorkFallBackEvenings(): number[] {
  return Array.from({ length: 12 }, (_, k) => {
    const year = 2026 + k;
    const sunday = [1, 2, 3, 4, 5, 6, 7].find(
      (d) => new Date(Date.UTC(year, 10, d)).getUTCDay() === 0,
    )!;
    return Date.UTC(year, 10, sunday, 2, 5);
  });
}

export const QUIET_CASES: QuietCase[] = [
  {
    label: 'routine at 22:05, 22:00-06:00, Shanghai',
    quietHours: '22:00-06:00',
    timeZone: SERVER_ZONE,
    froms: days('2026-12-01T22:05:00+08:00'),
  },
  {
    label: '05:59:30, 22:00-06:00, Shanghai',
    quietHours: '22:00-06:00',
    timeZone: SERVER_ZONE,
    froms: days('2026-12-01T05:59:30+08:00'),
  },
  {
    label: '14:00 (not quiet), 22:00-06:00, Shanghai',
    quietHours: '22:00-06:00',
    timeZone: SERVER_ZONE,
    froms: days('2026-12-01T14:00:00+08:00'),
  },
  {
    label: '00:30, 00:00-06:00, Kolkata',
    quietHours: '00:00-06:00',
    timeZone: 'Asia/Kolkata',
    froms: days('2026-12-01T00:30:00+05:30'),
  },
  {
    label: '12:10, 12:00-13:00, Berlin',
    quietHours: '12:00-13:00',
    timeZone: 'Europe/Berlin',
    froms: days('2026-12-01T12:10:00+01:00'),
  },
  {
    label: '22:05 the night clocks go back, 22:00-06:00, New York',
    quietHours: '22:00-06:00',
    timeZone: 'America/New_York',
    froms: newYorkFallBackEvenings(),
  },
];

/** Throws unless ours and the minute walk give the same answer for every instant of every case. */
export function checkAgreement(cases: QuietCase[]): void {
  for (const c of cases)
    for (const from of c.froms) {
      const ours = endOfQuiet(from, c.quietHours, c.timeZone);
      const old = endOfQuietMinuteWalk(from, c.quietHours, c.timeZone);
      if (ours !== old)
        throw new Error(
          `quiet: ${c.label} from ${new Date(from).toISOString()}: ours ${new Date(ours).toISOString()}, the minute walk ${new Date(old).toISOString()}`,
        );
    }
}

/** µs a call of `fn` over `calls` calls, the case's instants in turn. */
export function perCall(fn: EndOfQuiet, c: QuietCase, calls: number): number {
  let sink = 0;
  const t0 = hrnow();
  for (let i = 0; i < calls; i++) sink += fn(c.froms[i % c.froms.length], c.quietHours, c.timeZone);
  const us = ((hrnow() - t0) * 1000) / calls;
  if (sink === 0) throw new Error('unreachable: keeps the calls from being optimised away');
  return us;
}

/**
 * What the dispatcher's send loop does for a routine broadcast: one `endOfQuiet` per delivery,
 * at the same instant (22:05 in Shanghai), with its village's quiet hours (`22:00-06:00`, 100
 * devices to a village). Returns ms for the first `calls` of `deliveries`.
 */
export function dispatchLoop(fn: EndOfQuiet, deliveries: number, calls: number): number {
  const villages = new Map<string, string | null>();
  const devices = Array.from({ length: deliveries }, (_, i) => ({ villageCode: villageOf(i) }));
  for (const d of devices) villages.set(d.villageCode, '22:00-06:00');
  const now = Date.parse('2026-12-01T22:05:00+08:00');
  const startAt = now - 1000;
  let held = 0;
  const t0 = hrnow();
  for (const d of devices.slice(0, calls)) {
    const notBefore = fn(Math.max(startAt, now), villages.get(d.villageCode) ?? null, SERVER_ZONE);
    if (notBefore > now) held++;
  }
  const ms = hrnow() - t0;
  if (held !== Math.min(calls, deliveries)) throw new Error(`quiet: only ${held} deliveries held`);
  return ms;
}

// ---- on the real server ----

const hhmm = (minute: number) => {
  const m = ((minute % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

/** Gives every village of the stage the same quiet hours (through the API, as an operator would). */
async function setQuietHours(stage: Stage, villages: string[], quietHours: string | null) {
  for (let i = 0; i < villages.length; i += 10)
    await Promise.all(
      villages
        .slice(i, i + 10)
        .map((code) => stage.server.api('PATCH', `/api/villages/${code}`, { quietHours })),
    );
}

/**
 * Resolves once no device event has reached the server for 250 ms: the round's last reports and
 * the devices' answers to `stop` are in, and do not land in the next round's figures. (Heartbeats
 * go to another topic; `evt` is quiet between rounds.)
 */
async function eventsSettled(stage: Stage): Promise<void> {
  let last = NaN;
  await until(
    async () => {
      const n = (await stage.server.series('dalaba_mqtt_messages_total'))['kind="evt"'] ?? 0;
      const quiet = n === last;
      last = n;
      return quiet;
    },
    'device events to stop arriving',
    120_000,
    250,
  );
}

/** The server's dispatch log lines (info level) of each stage a quiet round ran on. */
const dispatchLines = new Map<Stage, string[]>();

/** The villages of a stage's devices (100 to a village). */
export const villagesOf = (devices: number) => [
  ...new Set(Array.from({ length: devices }, (_, i) => villageOf(i))),
];

export interface QuietRound {
  /** ms the API call (`POST /api/broadcasts`) took. */
  api: number;
  /** ms from sending the request until 50% / 100% of devices had the play command. */
  p50: number;
  p100: number;
  /** The server's event-loop delay from just before the request until all had it, ms. */
  loopP99: number;
  loopMax: number;
  /** Devices that got the command more than once. */
  resent: number;
  /** When the devices may play it (the end of quiet hours at night; the start by day). */
  notBefore: string;
  /**
   * From the server's dispatch log line (info level; NaN at warn): ms to prepare the commands
   * (one endOfQuiet per delivery among them) and save them, and to hand them to the broker.
   */
  savedMs: number;
  publishedMs: number;
  /** ms to set the villages' quiet hours before, and to end the broadcast after (not timed above). */
  setupMs: number;
  settleMs: number;
}

/**
 * One routine broadcast to every device of the stage. At night each village's quiet hours are
 * set to cover now (from 30 minutes ago to an hour from now), by day to two hours from now for
 * two hours. Throws unless every device got the command with `notBefore` the end of the window
 * (night) or the broadcast's start (day). Ends with no broadcast open and the server quiet: the
 * night one is cancelled and every device told to stop, the day one played to the end.
 */
export async function quietRound(
  stage: Stage,
  villages: string[],
  night: boolean,
): Promise<QuietRound> {
  if (!dispatchLines.has(stage))
    dispatchLines.set(stage, stage.server.watch(/level=routine dispatched: /));
  const setup = hrnow();
  const at = Date.now();
  const minute = Math.floor(((at + SERVER_OFFSET_MS) % DAY_MS) / 60_000);
  const window = night
    ? `${hhmm(minute - 30)}-${hhmm(minute + 60)}`
    : `${hhmm(minute + 120)}-${hhmm(minute + 240)}`;
  await setQuietHours(stage, villages, window);
  // Shanghai's minutes begin on UTC minutes: the window ends 60 minutes after this one began.
  const endOfWindow = at - (at % 60_000) + 60 * 60_000;
  const setupMs = hrnow() - setup;
  const lag = [
    'dalaba_nodejs_eventloop_lag_p99_seconds',
    'dalaba_nodejs_eventloop_lag_max_seconds',
  ];
  await stage.server.metrics(lag); // resets the monitor
  const t0 = hrnow();
  const b = await stage.server.api<{ id: string; startAt: string }>('POST', '/api/broadcasts', {
    title: night ? '夜间例行 routine at night' : '白天例行 routine by day',
    clipId: stage.clipId,
    level: 'routine',
    target: { all: true },
    attentionTone: false,
    expiresAt: new Date(at + 4 * 3_600_000).toISOString(),
  });
  const api = hrnow() - t0;
  await stage.fleet.waitFor(b.id, 'received', stage.devices);
  const loop = await stage.server.metrics(lag);
  const times = await stage.fleet.times(b.id);
  const expected = night ? endOfWindow : Date.parse(b.startAt);
  const wrong = times.notBefore.filter((n) => n !== expected);
  if (times.commands.length !== stage.devices || wrong.length)
    throw new Error(
      `quiet ${night ? 'night' : 'day'} ${b.id}: ${times.commands.length} of ${stage.devices} devices got the command, ${wrong.length} with notBefore other than ${new Date(expected).toISOString()} (e.g. ${wrong.slice(0, 3).map((n) => new Date(n).toISOString())})`,
    );
  const settle = hrnow();
  if (night) {
    await stage.server.api('POST', `/api/broadcasts/${b.id}/cancel`, {
      reason: 'bench round over',
    });
    await stage.fleet.waitFor(b.id, 'stopped', stage.devices);
  } else {
    await stage.fleet.waitPlayed(b.id, stage.devices);
    await completed(stage, b.id);
  }
  await eventsSettled(stage);
  const line = dispatchLines.get(stage)?.find((l) => l.includes(`broadcast=${b.id} `));
  const split = line && /saved in (\d+) ms, handed to the broker in (\d+) ms/.exec(line);
  return {
    api,
    p50: percentile(times.firstReceived, 0.5) - t0,
    p100: Math.max(...times.firstReceived) - t0,
    loopP99: loop.dalaba_nodejs_eventloop_lag_p99_seconds * 1000,
    loopMax: loop.dalaba_nodejs_eventloop_lag_max_seconds * 1000,
    resent: times.commands.filter((n) => n > 1).length,
    notBefore: new Date(expected).toISOString(),
    savedMs: split ? Number(split[1]) : NaN,
    publishedMs: split ? Number(split[2]) : NaN,
    setupMs,
    settleMs: hrnow() - settle,
  };
}

/** Clears the stage's quiet hours again (the stage's later scenarios expect none). */
export const clearQuietHours = (stage: Stage, villages: string[]) =>
  setQuietHours(stage, villages, null);
