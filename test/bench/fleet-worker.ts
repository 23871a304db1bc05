/**
 * The benchmark's device fleet, in its own process so that the server's figures are the server's:
 * real device agents (mqtt.js, the reference play flow, playback time zero) driven over IPC by
 * test/bench/fleet.ts. It timestamps every play command and every `played` report it sends.
 */
import { performance } from 'node:perf_hooks';
import type { PlayCommand } from '../../src/contract/messages.js';
import type { Faults } from '../../devices/agent.js';
import { Fleet } from '../../devices/fleet.js';
import type { FleetReply, FleetRequest, PlayTimes } from './fleet.js';

const now = () => performance.timeOrigin + performance.now();

let fleet: Fleet | undefined;
const faults: Faults = {};
/** broadcastId → deviceId → times. */
const plays = new Map<string, Map<string, { received: number[]; played?: number }>>();

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
      fleet = new Fleet(
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
      for (const agent of fleet.agents) {
        agent.on('command', (cmd: { type: string }) => {
          if (cmd.type !== 'play') return;
          const play = cmd as PlayCommand;
          deliveryToBroadcast.set(play.deliveryId, play.broadcastId);
          record(play.broadcastId, agent.id).received.push(now());
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
      for (const agent of fleet?.agents ?? []) n += agent.confirmHeld();
      return { at, confirmed: n };
    }
    case 'played-count': {
      let played = 0;
      for (const e of plays.get(req.broadcastId)?.values() ?? [])
        if (e.played !== undefined) played++;
      return { played };
    }
    case 'times': {
      const devices = plays.get(req.broadcastId) ?? new Map();
      const times: PlayTimes = { commands: [], firstReceived: [], played: [] };
      for (const e of devices.values()) {
        times.commands.push(e.received.length);
        if (e.received.length) times.firstReceived.push(e.received[0]);
        if (e.played !== undefined) times.played.push(e.played);
      }
      return times;
    }
    case 'online':
      return { online: fleet?.agents.filter((a) => a.connected).length ?? 0 };
    case 'kill':
      fleet?.kill();
      return { ok: true };
    case 'kill-one':
      fleet?.get(req.id)?.kill();
      return { ok: true };
    case 'stop':
      await fleet?.stop();
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
