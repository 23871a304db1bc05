/**
 * Device identity rules shared by the server and the device agent.
 *
 * This folder is the device contract: it imports nothing from the server, so device makers
 * and `devices/` can depend on it alone.
 */

/** The kinds of device a village can have. */
export const DEVICE_TYPES = [
  /** 应急广播终端: IP emergency-broadcast terminal. */
  'emergency_terminal',
  /** 村村通大喇叭: village loudspeaker. */
  'village_loudspeaker',
  /** 防汛扩音: flood-warning PA set. */
  'flood_pa',
  /** 拉杆音箱: battery speaker cart, often offline, may be confirmed by hand. */
  'speaker_cart',
] as const;

export type DeviceType = (typeof DEVICE_TYPES)[number];

export function isDeviceType(value: unknown): value is DeviceType {
  return typeof value === 'string' && (DEVICE_TYPES as readonly string[]).includes(value);
}

/** Longest device id; it is also the MQTT client id and username. */
export const DEVICE_ID_MAX_LENGTH = 64;

/**
 * A device id: 1–64 characters of `A–Z a–z 0–9 . _ -`, starting with a letter or digit.
 * That keeps it safe as an MQTT client id, username and topic level (no `/`, `+`, `#`,
 * spaces or control characters).
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID_PATTERN.test(value);
}
