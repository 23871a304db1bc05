/**
 * The benchmark's device fleet, in its own process so that the server's figures are the server's:
 * real device agents (mqtt.js, the reference play flow, playback time zero) driven over IPC by
 * test/bench/fleet.ts. It timestamps every play command and every `played` report it sends.
 */
import { performance } from 'node:perf_hooks';
import type { PlayCommand, StopCommand } from '../../src/contract/messages.js';
import type { Faults } from '../../devices/agent.js';
import { Fleet } from '../../devices/fleet.js';
import type { FleetReply, FleetRequest, Listener, PlayTimes } from './fleet.js';
import mqtt, { type MqttClient } from 'mqtt';

const now = () => performance.timeOrigin + performance.now();

/** Each `start` adds a fleet: a stage can grow in steps (the memory scenario measures between them). */
const fleets: Fleet[] = [];
/** Connection attempts that did not get in, by why (`ECONNREFUSED`, `connack timeout`…). */
const connectFailures: Record<string, number> = {};
const faults: Faults = {};
/** broadcastId → deviceId → times, and the `notBefore` of the first play command. */
const plays = new Map<
  string,
  Map<string, { received: number[]; notBefore?: number; played?: number; stopped?: number }>
>();

/** The group-topic scenario's bare subscribers, and round → when each first heard it. */
const listeners: MqttClient[] = [];
const heard = new Map<string, Map<string, number>>();

async function listen(url: string, list: Listener[]): Promise<void> {
  const one = async ({ id, topics }: Listener) => {
    const client = await mqtt.connectAsync(url, {
      clientId: id,
      username: id,
      password: 'bench',
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
    });
    listeners.push(client);
    client.on('message', (_topic, payload) => {
      const at = now();
      // Every device parses what it gets: a group message costs each of them its whole size.
      const msg = JSON.parse(payload.toString()) as { round: string; devices?: object };
      if (msg.devices && !Object.hasOwn(msg.devices, id)) return;
      let round = heard.get(msg.round);
      if (!round) heard.set(msg.round, (round = new Map()));
      if (!round.has(id)) round.set(id, at);
    });
    const granted = await client.subscribeAsync(topics, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new Error(`${id}: a subscription was refused`);
  };
  for (let i = 0; i < list.length; i += 200) await Promise.all(list.slice(i, i + 200).map(one));
}

function record(broadcastId: string, deviceId: string) {
  let devices = plays.get(broadcastId);
  if (!devices) plays.set(broadcastId, (devices = new Map()));
  let entry = devices.get(deviceId);
  if (!entry) devices.set(deviceId, (entry = { received: [] }));
  return entry;
}

async function handle(req: FleetRequest): Promise<FleetReply> {
  switch (req.op) {
    case 'start': {
      const fleet = new Fleet(
        req.ids.map((id) => ({ id, secret: req.secret })),
        {
          url: req.url,
          prefix: req.prefix,
          speed: 0,
          faults,
          connectConcurrency: 200,
          heartbeatIntervalS: 30,
        },
      );
      const deliveryToBroadcast = new Map<string, string>();
      fleets.push(fleet);
      for (const agent of fleet.agents) {
        agent.on('connect-failed', (why: string) => {
          connectFailures[why] = (connectFailures[why] ?? 0) + 1;
        });
        agent.on('command', (cmd: { type: string }) => {
          if (cmd.type === 'stop') {
            const stop = cmd as StopCommand;
            if (stop.broadcastId) record(stop.broadcastId, agent.id).stopped ??= now();
            return;
          }
          if (cmd.type !== 'play') return;
          const play = cmd as PlayCommand;
          deliveryToBroadcast.set(play.deliveryId, play.broadcastId);
          const entry = record(play.broadcastId, agent.id);
          entry.received.push(now());
          entry.notBefore ??= play.notBefore;
        });
        agent.on('delivery', (deliveryId: string, state: string) => {
          if (state !== 'played') return;
          const broadcastId = deliveryToBroadcast.get(deliveryId);
          if (!broadcastId) return;
          record(broadcastId, agent.id).played ??= now();
        });
      }
      const started = now();
      const result = await fleet.start();
      return { ...result, failed: result.failed.slice(0, 5), ms: now() - started };
    }
    case 'hold':
      faults.holdPlays = req.hold;
      return { ok: true };
    case 'confirm': {
      const at = now();
      let n = 0;
      for (const f of fleets) for (const agent of f.agents) n += agent.confirmHeld();
      return { at, confirmed: n };
    }
    case 'count': {
      let count = 0;
      for (const e of plays.get(req.broadcastId)?.values() ?? [])
        if (req.what === 'received' ? e.received.length > 0 : e[req.what] !== undefined) count++;
      return { count };
    }
    case 'times': {
      const devices = plays.get(req.broadcastId) ?? new Map();
      const times: PlayTimes = { commands: [], firstReceived: [], played: [], notBefore: [] };
      for (const e of devices.values()) {
        times.commands.push(e.received.length);
        if (e.received.length) times.firstReceived.push(e.received[0]);
        if (e.played !== undefined) times.played.push(e.played);
        if (e.notBefore !== undefined) times.notBefore.push(e.notBefore);
      }
      return times;
    }
    case 'online':
      return {
        online: fleets.reduce((n, f) => n + f.agents.filter((a) => a.connected).length, 0),
        connectFailures,
      };
    case 'kill':
      for (const f of fleets) f.kill();
      return { ok: true };
    case 'kill-one':
      for (const f of fleets) f.get(req.id)?.kill();
      return { ok: true };
    case 'listen':
      await listen(req.url, req.listeners);
      return { ok: true };
    case 'heard': {
      const round = heard.get(req.round);
      return {
        heard: round?.size ?? 0,
        times: req.times ? [...(round?.values() ?? [])] : undefined,
      };
    }
    case 'stop':
      await Promise.all(listeners.map((c) => c.endAsync(true)));
      await Promise.all(fleets.map((f) => f.stop()));
      return { ok: true };
  }
}

process.on('message', (msg: { seq: number; req: FleetRequest }) => {
  handle(msg.req).then(
    (reply) => process.send!({ seq: msg.seq, reply }),
    (err: Error) => process.send!({ seq: msg.seq, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
