import { DEVICE_ID_PATTERN } from './device.js';

/** Default first levels of every Dalaba topic; servers may configure another. */
export const DEFAULT_TOPIC_PREFIX = 'dalaba/v1';

/**
 * The four topics of a device, under `{prefix}/d/{deviceId}/`:
 *
 * | kind        | direction       | QoS | retained |
 * |-------------|-----------------|-----|----------|
 * | `cmd`       | server → device | 1   | no       |
 * | `evt`       | device → server | 1   | no       |
 * | `state`     | device → server | 1   | yes      |
 * | `telemetry` | device → server | 0   | no       |
 */
export const TOPIC_KINDS = ['cmd', 'evt', 'state', 'telemetry'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** The topics a device publishes to (its own only). */
export const DEVICE_PUBLISH_KINDS: readonly TopicKind[] = ['evt', 'state', 'telemetry'];

/** QoS and retain flag for each topic kind. */
export const TOPIC_RULES: Record<
  TopicKind,
  { qos: 0 | 1; retain: boolean; direction: 'to-device' | 'from-device' }
> = {
  cmd: { qos: 1, retain: false, direction: 'to-device' },
  evt: { qos: 1, retain: false, direction: 'from-device' },
  state: { qos: 1, retain: true, direction: 'from-device' },
  telemetry: { qos: 0, retain: false, direction: 'from-device' },
};

/** `{prefix}/d/{deviceId}/{kind}`. */
export function deviceTopic(prefix: string, deviceId: string, kind: TopicKind): string {
  return `${prefix}/d/${deviceId}/${kind}`;
}

/** The wildcard filter matching one kind of topic for every device: `{prefix}/d/+/{kind}`. */
export function allDevicesFilter(prefix: string, kind: TopicKind): string {
  return `${prefix}/d/+/${kind}`;
}

/**
 * Splits a device topic into its device id and kind; null for anything else (another prefix,
 * an unknown kind, an id that is not a valid device id, extra levels).
 */
export function parseDeviceTopic(
  prefix: string,
  topic: string,
): { deviceId: string; kind: TopicKind } | null {
  const head = `${prefix}/d/`;
  if (!topic.startsWith(head)) return null;
  const rest = topic.slice(head.length).split('/');
  if (rest.length !== 2) return null;
  const [deviceId, kind] = rest;
  if (!DEVICE_ID_PATTERN.test(deviceId) || !(TOPIC_KINDS as readonly string[]).includes(kind))
    return null;
  return { deviceId, kind: kind as TopicKind };
}
