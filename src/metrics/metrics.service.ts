import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { DECODE_FAILURES } from '../contract/decode.js';
import { COMMAND_REJECTIONS } from '../contract/signing.js';

/** Why an MQTT message or connection was refused (beyond the decode failures). */
export const MQTT_REJECTIONS = [
  ...DECODE_FAILURES,
  'auth_failed',
  'auth_rate_limited',
  'acl_publish',
  'acl_subscribe',
  'too_many_subscriptions',
  'bad_topic',
  'rate_limited',
  'unknown_device',
] as const;
export type MqttRejection = (typeof MQTT_REJECTIONS)[number];

/**
 * Prometheus metrics of this server (`GET /metrics`). One registry per application, so several
 * servers in one process (tests) do not collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly mqttRejected = new Counter({
    name: 'dalaba_mqtt_rejected_total',
    help: 'MQTT connections, subscriptions and messages refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly mqttAccepted = new Counter({
    name: 'dalaba_mqtt_messages_total',
    help: 'Device messages accepted, by topic kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly mqttConnected = new Gauge({
    name: 'dalaba_mqtt_broker_connected',
    help: '1 when the server is connected to its MQTT broker (always 1 for the embedded one while it runs)',
    registers: [this.registry],
  });

  readonly deliveryEvents = new Counter({
    name: 'dalaba_delivery_events_total',
    help: 'Delivery events from devices, by result: applied, progress (downloading again, with progressPct), duplicate, backwards, terminal, not_applicable, stale, foreign, unknown, bad_device_signature',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly deliveryAnomalies = new Counter({
    name: 'dalaba_delivery_anomalies_total',
    help: 'Delivery events accepted although they broke the protocol, by kind: skipped_received, skipped_ready, skipped_playing (a required step left out)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly commandsSent = new Counter({
    name: 'dalaba_play_commands_total',
    help: 'play commands published, by kind: first, resend (no answer, or the device came back), resume (after preempted)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly commandRejections = new Counter({
    name: 'dalaba_command_rejections_total',
    help: 'Commands devices refused and reported with a `rejected` event, by reason (protocol section 9.3): a forged, replayed or expired command, or a key the device does not hold',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private onlineSource: () => number = () => 0;

  /**
   * Read from presence when scraped, never counted up and down: a device that reconnects with a
   * new session before its old one is seen to end is announced online twice, and a counter drifts
   * above the fleet's size after a restart.
   */
  readonly devicesOnline: Gauge = new Gauge({
    name: 'dalaba_devices_online',
    help: 'Devices currently online',
    registers: [this.registry],
    collect: (): void => this.devicesOnline.set(this.onlineSource()),
  });

  /** ffmpeg runs by transcoding lane and state, read from the clips module when scraped. */
  readonly ffmpegRuns: Gauge = new Gauge({
    name: 'dalaba_ffmpeg_runs',
    help: 'ffmpeg runs by transcoding lane (urgent, routine, background) and state (waiting, running, suspended)',
    labelNames: ['lane', 'state'],
    registers: [this.registry],
    collect: (): void => {
      this.ffmpegRuns.reset();
      for (const r of this.ffmpegSource())
        this.ffmpegRuns.set({ lane: r.lane, state: r.state }, r.count);
    },
  });
  private ffmpegSource: () => { lane: string; state: string; count: number }[] = () => [];

  /** Where `dalaba_ffmpeg_runs` reads its values. */
  countFfmpegRunsWith(source: () => { lane: string; state: string; count: number }[]): void {
    this.ffmpegSource = source;
  }

  /** Where `dalaba_devices_online` reads its value. */
  countOnlineWith(source: () => number): void {
    this.onlineSource = source;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dalaba_' });
    for (const reason of MQTT_REJECTIONS) this.mqttRejected.inc({ reason }, 0);
    for (const reason of COMMAND_REJECTIONS) this.commandRejections.inc({ reason }, 0);
  }

  reject(reason: MqttRejection): void {
    this.mqttRejected.inc({ reason });
  }

  /** Current count of one rejection reason (tests and logs). */
  async rejected(reason: MqttRejection): Promise<number> {
    const metric = await this.mqttRejected.get();
    return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  }
}
