import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { fromEvent } from 'rxjs';
import { DeviceAgent } from '../devices/agent.js';
import { parse } from 'csv-parse/sync';
import { BroadcastDispatcher } from '../src/broadcasts/dispatcher.js';
import type { AppConfig } from '../src/config/app-config.js';
import { APP_CONFIG } from '../src/config/config.module.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import {
  createBroadcast,
  deliveriesOf,
  deliveryReached,
  newClip,
  statusReached,
} from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import {
  everythingArrived,
  LiteralDevice,
  LiteralDeviceOptions,
} from './support/literal-device.js';
import { eventually, mqttUrl, next, nextPresence, scriptedDevice } from './support/mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';

/**
 * The delivery rules of docs/protocol.md §4, checked with a device written from the document
 * alone (test/support/literal-device.ts), not with the reference agent the server grew up with.
 */
describe('delivery rules with a device that follows the protocol document literally', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let town: string;
  let clip: { id: string; durationMs: number };
  let urgentClip: { id: string; durationMs: number };
  const devices: LiteralDevice[] = [];
  const raws: MqttClient[] = [];
  const dispatcher = () => s.server.app.get(BroadcastDispatcher);
  const metric = async (name: 'deliveryAnomalies' | 'commandsSent', label: string) =>
    (await s.server.app.get(MetricsService)[name].get()).values
      .filter((v) => Object.values(v.labels).includes(label))
      .reduce((n, v) => n + v.value, 0);

  const literal = async (options: LiteralDeviceOptions = {}, village?: string) => {
    const device = await fx.newDevice(village ?? (await fx.newVillage(town)).code);
    const d = new LiteralDevice(s, device, options);
    devices.push(d);
    await d.connect();
    return d;
  };
  const delivered = (d: LiteralDevice) => everythingArrived(s, d.device.id);
  const events = async (broadcastId: string, deliveryId: string) =>
    (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${broadcastId}/deliveries/${deliveryId}/events`)
        .expect(200)
    ).body as {
      from: string;
      to: string;
      source: string;
      reason: string | null;
      anomaly: string | null;
    }[];
  const coverage = async (broadcastId: string, query = '') =>
    (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${broadcastId}/coverage${query}`)
        .expect(200)
    ).body;

  beforeAll(async () => {
    // Resends on an ack timeout would blur which rule sent a command: only the rules under test
    // send here (the tick runs every 100 ms for resumptions, which are due at once).
    s = await startTestServer({
      env: { DISPATCH_TICK_MS: '100', ACK_TIMEOUT_S: '60', BROADCAST_GRACE_S: '1' },
      timers: true,
      // A device that comes online is looked up only when a test says so (flushOnline), so a
      // broadcast created as it connects is always dispatched before that lookup: the race under
      // test, in the order that used to send twice, whatever the machine's speed.
      configure: (config) => (config.broadcasts.onlineDelayMs = 3_600_000),
    });
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    clip = await newClip(s, 2);
    urgentClip = await newClip(s, 1);
  });
  afterAll(async () => {
    for (const r of raws) r.end(true);
    await Promise.all(devices.map((d) => d.close()));
    await s.close();
  });

  it('resumes a preempted delivery once, with a new command, and never resends it forever', async () => {
    // Every playback holds until released, so the urgent one always lands mid-play.
    const d = await literal({ holdPlaying: true });
    const anomaliesBefore = await metric('deliveryAnomalies', 'skipped_ready');
    let routineId = '';
    let urgentId = '';
    const playing = deliveryReached(s, () => routineId, d.device.id, 'playing');
    routineId = (
      await createBroadcast(s, {
        title: '日常通知',
        clipId: clip.id,
        level: 'routine',
        target: { devices: [d.device.id] },
      })
    ).id;
    await playing;
    const interrupted = deliveryReached(s, () => routineId, d.device.id, 'pending');
    const routineDone = statusReached(s, () => routineId, 'completed');
    const urgentPlaying = deliveryReached(s, () => urgentId, d.device.id, 'playing');
    const urgentDone = statusReached(s, () => urgentId, 'completed');
    urgentId = (
      await createBroadcast(s, {
        title: 'I 级预警',
        clipId: urgentClip.id,
        level: 'I',
        target: { devices: [d.device.id] },
        attentionTone: false,
      })
    ).id;
    await interrupted;
    const [waiting] = await deliveriesOf(s, routineId);
    assert.match(waiting.reason ?? '', /preempted by a level I broadcast/);
    await urgentPlaying;
    const resumedPlaying = deliveryReached(s, () => routineId, d.device.id, 'playing');
    d.release();
    await urgentDone;
    await resumedPlaying;
    d.release();
    await routineDone;

    const [routine] = await deliveriesOf(s, routineId);
    const [urgent] = await deliveriesOf(s, urgentId);
    assert.equal(routine.state, 'played');
    assert.equal(urgent.state, 'played');
    assert.deepEqual(
      d.playIds(routine.id),
      [`play-${routine.id}`, `play-${routine.id}-r1`],
      'the first command, then one resumption with its own id',
    );
    assert.equal(d.starts.get(routine.id), 2, 'interrupted once, played through once');
    assert.equal(d.starts.get(urgent.id), 1);
    const resumed = d.commands.find((c) => c.id === `play-${routine.id}-r1`)!;
    assert.equal(resumed.resume, 1);
    assert.equal(routine.reason, null, 'the interruption is no longer its story once played');
    assert.equal(routine.resumes, 1);
    assert.deepEqual(
      (await events(routineId, routine.id)).map((e) => `${e.from}>${e.to}`),
      [
        'pending>sent',
        'sent>received',
        'received>downloading',
        'downloading>ready',
        'ready>playing',
        'playing>pending',
        'pending>sent',
        'sent>received',
        // The clip is in the device's cache now: `downloading` is the one step it may leave out.
        'received>ready',
        'ready>playing',
        'playing>played',
      ],
    );
    assert.equal(await metric('deliveryAnomalies', 'skipped_ready'), anomaliesBefore);
    const c = await coverage(routineId);
    assert.equal(c.broadcast.outcome, 'completed');
    // Time to first sound is the first `playing`, before the interruption.
    const events0 = await events(routineId, routine.id);
    assert.ok(c.villages[0].firstSoundAt < c.villages[0].playedAt);
    assert.equal(events0.filter((e) => e.to === 'playing').length, 2);
  });

  it('bounds the resumptions: interrupted once more than MAX_RESUMES, the delivery fails', async () => {
    const d = await literal({ alwaysPreempted: true });
    let id = '';
    const done = statusReached(s, () => id, 'completed');
    id = (
      await createBroadcast(s, {
        title: '总被打断',
        clipId: clip.id,
        level: 'routine',
        target: { devices: [d.device.id] },
      })
    ).id;
    await done;
    const [delivery] = await deliveriesOf(s, id);
    assert.equal(delivery.state, 'failed');
    assert.match(delivery.reason ?? '', /interrupted 4 times .* not resumed again/);
    assert.deepEqual(d.playIds(delivery.id), [
      `play-${delivery.id}`,
      `play-${delivery.id}-r1`,
      `play-${delivery.id}-r2`,
      `play-${delivery.id}-r3`,
    ]);
    assert.equal(d.starts.get(delivery.id), 4);
    const b = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body;
    assert.equal(b.outcome, 'failed');
  });

  it('sends a broadcast created as devices connect once, not again when they are looked up as online', async () => {
    // One device is playing it by the time the server looks up what waits for it, the other has
    // not answered yet (its first command is lost): neither gets it again.
    const playing = await literal({ holdPlaying: true });
    const silent = await literal({ ignorePlays: 1 });
    let id = '';
    const started = deliveryReached(s, () => id, playing.device.id, 'playing');
    id = (
      await createBroadcast(s, {
        title: '刚上线',
        clipId: urgentClip.id,
        level: 'II',
        target: { devices: [playing.device.id, silent.device.id] },
        attentionTone: false,
      })
    ).id;
    await started;
    await dispatcher().flushOnline();
    await Promise.all([playing, silent].map(delivered));
    const deliveries = new Map((await deliveriesOf(s, id)).map((x) => [x.deviceId, x]));
    for (const d of [playing, silent]) {
      const delivery = deliveries.get(d.device.id)!;
      assert.deepEqual(d.playIds(delivery.id), [`play-${delivery.id}`], d.device.id);
    }
    assert.equal(deliveries.get(silent.device.id)!.state, 'sent', 'left to the ack timeout');
    const played = deliveryReached(s, () => id, playing.device.id, 'played');
    playing.release();
    await played;
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('does not send again what a device acknowledged when it reconnects, and sends again what it never acknowledged', async () => {
    const holder = await literal({ holdPlaying: true });
    const lost = await literal({ ignorePlays: 1 });
    let id = '';
    const playing = deliveryReached(s, () => id, holder.device.id, 'playing');
    id = (
      await createBroadcast(s, {
        title: '重连',
        clipId: urgentClip.id,
        level: 'III',
        target: { devices: [holder.device.id, lost.device.id] },
        attentionTone: false,
      })
    ).id;
    await playing;
    const deliveries = new Map((await deliveriesOf(s, id)).map((x) => [x.deviceId, x]));
    const held = deliveries.get(holder.device.id)!;
    const unanswered = deliveries.get(lost.device.id)!;
    assert.equal(unanswered.state, 'sent');

    const lostPlayed = deliveryReached(s, () => id, lost.device.id, 'played');
    for (const d of [holder, lost]) {
      await d.drop();
      await d.connect();
    }
    await dispatcher().flushOnline();
    await delivered(holder);
    assert.deepEqual(
      holder.playIds(held.id),
      [`play-${held.id}`],
      'acknowledged: kept, not resent',
    );
    await lostPlayed;
    assert.deepEqual(
      lost.playIds(unanswered.id),
      [`play-${unanswered.id}`, `play-${unanswered.id}`],
      'the same command again, to the new connection',
    );
    const heldPlayed = deliveryReached(s, () => id, holder.device.id, 'played');
    holder.release();
    await heldPlayed;
    assert.equal(holder.starts.get(held.id), 1);
  });

  it('says quiet_hours for a village its quiet hours held, while waiting and after the broadcast expired', async () => {
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: s.server.app.get<AppConfig>(APP_CONFIG).timeZone,
      hour: '2-digit',
      hourCycle: 'h23',
    }).format(new Date());
    const h = Number(local);
    // Quiet from the start of this hour for two hours: it ends 60 to 120 minutes from now.
    const quietHours = `${String(h).padStart(2, '0')}:00-${String((h + 2) % 24).padStart(2, '0')}:00`;
    const village = (await fx.newVillage(town, { quietHours })).code;
    const d = await literal({}, village);

    // Every delivery ends as it is dispatched: the broadcast is over when the call returns.
    const short = await createBroadcast(s, {
      title: '半小时有效',
      clipId: urgentClip.id,
      level: 'routine',
      target: { villages: [village] },
      expiresAt: new Date(Date.now() + 30 * 60_000).toISOString(),
    });
    assert.equal(short.status, 'completed');
    const shortId = short.id;
    const expired = await coverage(shortId);
    assert.deepEqual(
      [expired.villages[0].outcome, expired.villages[0].reason],
      ['uncovered', 'quiet_hours'],
      'not all_offline: its device was online throughout',
    );
    assert.equal(expired.summary.uncoveredByReason.quiet_hours, 1);
    assert.equal(expired.summary.uncoveredByReason.all_offline, 0);
    assert.equal(expired.broadcast.outcome, 'expired', 'it never had a chance to play');
    const [delivery] = await deliveriesOf(s, shortId);
    assert.equal(delivery.state, 'expired');
    assert.ok(delivery.heldUntil && Date.parse(delivery.heldUntil) >= Date.now() + 59 * 60_000);
    assert.deepEqual(d.playIds(delivery.id), [], 'nothing is sent that could never play');

    const csv = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${shortId}/coverage?format=csv`)
        .expect(200)
    ).text;
    const [, table] = csv.replace(/^\uFEFF/, '').split('\r\n\r\n');
    const [header, row] = parse(table) as string[][];
    assert.equal(row[header.indexOf('未覆盖原因')], '静默时段未播');

    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const report = (
      await api(s.url, s.adminToken)
        .get(
          `/api/reports/coverage?from=${day(Date.now() - 86_400_000)}&to=${day(Date.now() + 86_400_000)}`,
        )
        .expect(200)
    ).body;
    const line = report.villages.find((v: { code: string }) => v.code === village);
    assert.deepEqual(
      [line.targeted, line.covered, line.heldByQuietHours, line.rate, line.belowThreshold],
      [1, 0, 1, null, false],
      'held by quiet hours is not a failure of the village',
    );
    const board = (
      await api(s.url, s.adminToken).get('/api/status/villages?limit=500').expect(200)
    ).body.items.find((v: { code: string }) => v.code === village);
    assert.equal(board.latestBroadcast.reason, 'quiet_hours');
    assert.equal(board.latestBroadcast.resendable, true, 'ended: a resend can reach it later');

    // Valid past the end of the quiet hours: sent, downloaded, and waiting for them to end.
    let longId = '';
    const ready = deliveryReached(s, () => longId, d.device.id, 'ready');
    longId = (
      await createBroadcast(s, {
        title: '三小时有效',
        clipId: urgentClip.id,
        level: 'routine',
        target: { villages: [village] },
        expiresAt: new Date(Date.now() + 3 * 3_600_000).toISOString(),
      })
    ).id;
    await ready;
    const waiting = await coverage(longId);
    assert.deepEqual(
      [waiting.villages[0].outcome, waiting.villages[0].reason, waiting.villages[0].resendable],
      ['uncovered', 'quiet_hours', false],
      'while it runs a resend would be held as well',
    );
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${longId}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('ends a village cancelled, not partial, when the broadcast is cancelled while it plays', async () => {
    const d = await literal({ holdPlaying: true });
    let id = '';
    const playing = deliveryReached(s, () => id, d.device.id, 'playing');
    id = (
      await createBroadcast(s, {
        title: '播放中取消',
        clipId: urgentClip.id,
        level: 'III',
        target: { devices: [d.device.id] },
        attentionTone: false,
      })
    ).id;
    await playing;
    assert.equal((await coverage(id)).villages[0].outcome, 'partial', 'playing now');
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${id}/cancel`)
      .send({ reason: '通知有误' })
      .expect(200);
    await eventually(
      () =>
        d.stateOf(d.commands.find((c) => c.type === 'play')!.deliveryId as string) === 'stopped',
    );
    // Coming back, the device gets the same stop again: same id, same reason.
    await d.drop();
    await d.connect();
    await dispatcher().flushOnline();
    const stops = () => d.commands.filter((c) => c.type === 'stop');
    await eventually(() => stops().length === 2, 5000, 'the stop again');
    assert.deepEqual(
      stops().map((c) => [c.id, c.reason]),
      [
        [`stop-${id}`, '通知有误'],
        [`stop-${id}`, '通知有误'],
      ],
    );
    const c = await coverage(id);
    assert.deepEqual([c.villages[0].outcome, c.villages[0].reason], ['uncovered', 'cancelled']);
    assert.equal(c.summary.partial, 0);
    assert.equal(c.summary.uncoveredByReason.cancelled, 1);
    assert.equal(c.broadcast.outcome, 'cancelled');
    assert.ok(c.villages[0].firstSoundAt, 'it did sound before the cancel');
  });

  it('lets a device that began playing before expiresAt finish, and counts its played', async () => {
    const d = await literal({ holdPlaying: true });
    let id = '';
    const playing = deliveryReached(s, () => id, d.device.id, 'playing');
    // Valid for 10 s: it starts at once, and its 10 plays of the 2-second clip take 20 s.
    const b = await createBroadcast(s, {
      title: '临近截止才开始',
      clipId: clip.id,
      level: 'II',
      target: { devices: [d.device.id] },
      attentionTone: false,
      repeat: 10,
      expiresAt: new Date(Date.now() + 10_000).toISOString(),
    });
    id = b.id;
    await playing;
    // Past expiresAt and the 1 s grace period, but within 10 plays of the clip after `playing`.
    const expiresAt = Date.parse(b.expiresAt as string);
    await dispatcher().tick(new Date(expiresAt + 1000 + 500));
    const [open] = await deliveriesOf(s, id);
    assert.equal(open.state, 'playing', 'still sounding: not expired');
    const done = statusReached(s, () => id, 'completed');
    d.release();
    await done;
    const [played] = await deliveriesOf(s, id);
    assert.equal(played.state, 'played');
    const c = await coverage(id);
    assert.equal(c.broadcast.outcome, 'completed');
  });

  it('expires a delivery whose device stopped reporting while playing, once its playing time is over', async () => {
    const d = await literal({ holdPlaying: true });
    let id = '';
    const playing = deliveryReached(s, () => id, d.device.id, 'playing');
    const b = await createBroadcast(s, {
      title: '播放中失联',
      clipId: clip.id,
      level: 'II',
      target: { devices: [d.device.id] },
      attentionTone: false,
    });
    id = b.id;
    await playing;
    const [delivery] = await deliveriesOf(s, id);
    const done = statusReached(s, () => id, 'completed');
    // One play of the 2-second clip and the 1-second grace after the `playing` have passed.
    await dispatcher().tick(new Date(Date.parse(b.expiresAt as string) + 60_000));
    await done;
    const [expired] = await deliveriesOf(s, id);
    assert.equal(expired.state, 'expired');
    assert.equal(expired.id, delivery.id);
  });

  it('resends a lost resumption after the ack timeout, as its own command, with the first notBefore', async () => {
    const d = await literal({ playMs: 60_000, ignoreResumptions: true });
    let routineId = '';
    const playing = deliveryReached(s, () => routineId, d.device.id, 'playing');
    routineId = (
      await createBroadcast(s, {
        title: '日常，恢复丢失',
        clipId: clip.id,
        level: 'routine',
        target: { devices: [d.device.id] },
      })
    ).id;
    await playing;
    const [routine] = await deliveriesOf(s, routineId);
    const resumed = deliveryReached(s, () => routineId, d.device.id, 'sent');
    await createBroadcast(s, {
      title: 'I 级，打断',
      clipId: urgentClip.id,
      level: 'I',
      target: { devices: [d.device.id] },
      attentionTone: false,
    });
    await resumed;
    // The ack timeout here is 60 s: the lost resumption goes again after 60 s, not 120 s.
    await dispatcher().tick(new Date(Date.now() + 61_000));
    const plays = () => d.commands.filter((c) => c.type === 'play' && c.deliveryId === routine.id);
    await eventually(() => plays().length === 3, 5000, 'the resumption and its resend');
    assert.deepEqual(
      plays().map((c) => c.id),
      [`play-${routine.id}`, `play-${routine.id}-r1`, `play-${routine.id}-r1`],
    );
    assert.ok(
      plays().every((c) => c.notBefore === plays()[0].notBefore),
      'a resend and a resumption carry the notBefore of the first command',
    );
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${routineId}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('counts a repeated downloading with its progress as progress, not as a duplicate', async () => {
    const device = await fx.newDevice((await fx.newVillage(town)).code);
    const client = await scriptedDevice(s, device, ['received']);
    raws.push(client);
    const b = await createBroadcast(s, {
      title: '下载进度',
      clipId: urgentClip.id,
      level: 'IV',
      target: { devices: [device.id] },
      attentionTone: false,
    });
    await eventually(async () => (await deliveriesOf(s, b.id))[0].state === 'received');
    const [delivery] = await deliveriesOf(s, b.id);
    const count = async (result: string) =>
      (await s.server.app.get(MetricsService).deliveryEvents.get()).values.find(
        (v) => v.labels.result === result,
      )?.value ?? 0;
    const before = { progress: await count('progress'), duplicate: await count('duplicate') };
    for (const [n, pct] of [0, 50, 100].entries())
      await client.publishAsync(
        `dalaba/v1/d/${device.id}/evt`,
        JSON.stringify({
          v: 1,
          type: 'delivery',
          id: `p-${n}`,
          ts: Date.now(),
          deliveryId: delivery.id,
          state: 'downloading',
          progressPct: pct,
        }),
        { qos: 1 },
      );
    await eventually(async () => (await count('progress')) - before.progress === 2);
    assert.equal(await count('duplicate'), before.duplicate);
    assert.equal((await deliveriesOf(s, b.id))[0].state, 'downloading');
  });

  it('holds a test broadcast through quiet hours, like a routine one', async () => {
    const h = Number(
      new Intl.DateTimeFormat('en-GB', {
        timeZone: s.server.app.get<AppConfig>(APP_CONFIG).timeZone,
        hour: '2-digit',
        hourCycle: 'h23',
      }).format(new Date()),
    );
    const quietHours = `${String(h).padStart(2, '0')}:00-${String((h + 2) % 24).padStart(2, '0')}:00`;
    const village = (await fx.newVillage(town, { quietHours })).code;
    const d = await literal({}, village);
    let id = '';
    const ready = deliveryReached(s, () => id, d.device.id, 'ready');
    id = (
      await createBroadcast(s, {
        title: '测试广播',
        clipId: urgentClip.id,
        level: 'test',
        target: { villages: [village] },
        expiresAt: new Date(Date.now() + 3 * 3_600_000).toISOString(),
      })
    ).id;
    await ready;
    const play = d.commands.find((c) => c.type === 'play')!;
    assert.ok(
      (play.notBefore as number) >= Date.now() + 59 * 60_000,
      'held until the quiet hours end',
    );
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('ends a broadcast that reached no device failed, not completed', async () => {
    const village = (await fx.newVillage(town)).code;
    await fx.newDevice(village, { enabled: false });
    const b = await createBroadcast(s, {
      title: '无设备',
      clipId: urgentClip.id,
      level: 'II',
      target: { villages: [village] },
    });
    assert.equal(b.status, 'completed');
    assert.equal(b.outcome, 'failed');
    assert.match(String(b.endReason), /no enabled device/);
    assert.equal((await coverage(b.id)).villages[0].reason, 'no_device');
  });

  it('accepts a played that skipped required steps, and counts and records the anomaly', async () => {
    const device = await fx.newDevice((await fx.newVillage(town)).code);
    // Answers every play with `played` alone.
    raws.push(await scriptedDevice(s, device, ['played']));
    const before = await Promise.all(
      ['skipped_received', 'skipped_ready', 'skipped_playing'].map((k) =>
        metric('deliveryAnomalies', k),
      ),
    );
    const b = await createBroadcast(s, {
      title: '跳步',
      clipId: urgentClip.id,
      level: 'IV',
      target: { devices: [device.id] },
      attentionTone: false,
    });
    await eventually(async () => (await deliveriesOf(s, b.id))[0].state === 'played');
    const [delivery] = await deliveriesOf(s, b.id);
    const after = await Promise.all(
      ['skipped_received', 'skipped_ready', 'skipped_playing'].map((k) =>
        metric('deliveryAnomalies', k),
      ),
    );
    assert.deepEqual(
      after.map((n, i) => n - before[i]),
      [1, 1, 1],
    );
    const last = (await events(b.id, delivery.id)).at(-1)!;
    assert.deepEqual(
      [last.from, last.to, last.anomaly],
      ['sent', 'played', 'skipped received, ready, playing'],
    );
    assert.equal(
      (await deliveriesOf(s, b.id))[0].state,
      'played',
      'still the truth about coverage',
    );
  });

  it('updates the outcome when staff confirm a village by hand after the end', async () => {
    const village = (await fx.newVillage(town)).code;
    await fx.newDevice(village, { type: 'speaker_cart' }); // never online
    let id = '';
    const done = statusReached(s, () => id, 'completed');
    const b = await createBroadcast(s, {
      title: '拉杆音箱',
      clipId: urgentClip.id,
      level: 'III',
      target: { villages: [village] },
    });
    id = b.id;
    await dispatcher().tick(new Date(Date.parse(b.expiresAt as string) + 5000));
    await done;
    const ended = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body;
    assert.equal(ended.outcome, 'failed');
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${id}/confirmations`)
      .send({ village, method: 'loudspeaker', by: '村干部', note: '手持喇叭播报' })
      .expect(201);
    const confirmed = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200))
      .body;
    assert.equal(confirmed.outcome, 'completed');
  });
});

describe('what a device learns from the server when it comes online', () => {
  let s: TestServer;
  const agents: DeviceAgent[] = [];
  const devices: LiteralDevice[] = [];
  beforeAll(async () => {
    s = await startTestServer({
      env: { HEARTBEAT_INTERVAL_S: '7', OFFLINE_AFTER_MISSED_HEARTBEATS: '4' },
    });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(devices.map((d) => d.close()));
    await s.close();
  });

  it('gets a config with the station’s heartbeat and the server clock, and the reference agent applies it', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const literal = new LiteralDevice(s, await fx.newDevice(village));
    devices.push(literal);
    const before = Date.now();
    await literal.connect();
    await eventually(() => literal.commands.some((c) => c.type === 'config'));
    const config = literal.commands.find((c) => c.type === 'config')!;
    assert.equal(config.heartbeatIntervalS, 7);
    assert.equal(config.offlineAfterS, 28);
    assert.ok((config.ts as number) >= before && (config.ts as number) <= Date.now());

    const device = await fx.newDevice(village);
    const agent = new DeviceAgent({
      url: mqttUrl(s),
      id: device.id,
      secret: device.secret,
      speed: 0,
    });
    agents.push(agent);
    assert.equal(agent.heartbeatIntervalS, 30, 'its own default until told');
    const told = next(fromEvent<{ type: string }>(agent, 'command'), (c) => c.type === 'config');
    await agent.start();
    await told;
    assert.equal(agent.heartbeatIntervalS, 7);
  });

  it('plays an emergency at once on a device whose clock is ten minutes slow: it keeps the server’s time', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const device = await fx.newDevice((await fx.newVillage((await fx.newTown()).code)).code);
    const agent = new DeviceAgent({
      url: mqttUrl(s),
      id: device.id,
      secret: device.secret,
      speed: 0,
      faults: { clockSkewMs: -10 * 60_000 },
    });
    agents.push(agent);
    const told = next(fromEvent<{ type: string }>(agent, 'command'), (c) => c.type === 'config');
    const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
    await agent.start();
    await Promise.all([told, online]);
    const clip = await newClip(s, 1);
    let id = '';
    const played = deliveryReached(s, () => id, device.id, 'played');
    id = (
      await createBroadcast(s, {
        title: '时钟慢十分钟',
        clipId: clip.id,
        level: 'I',
        target: { devices: [device.id] },
        attentionTone: false,
      })
    ).id;
    await played;
    const events = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${id}/deliveries/${(await deliveriesOf(s, id))[0].id}/events`)
        .expect(200)
    ).body as { to: string; deviceAt: string; serverAt: string }[];
    const received = events.find((e) => e.to === 'received')!;
    assert.ok(
      Date.parse(received.serverAt) - Date.parse(received.deviceAt) > 9 * 60_000,
      'its own (wrong) time is kept in the log, not used',
    );
  });
});
