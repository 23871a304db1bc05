/**
 * What a device is given when it is installed: the provisioning bundle the server hands out
 * (`GET /api/devices/:id/provisioning`, or the QR code on the dashboard) and server keys typed on
 * the command line. The agent trusts exactly these keys, and what they endorse later.
 */
import { readFile } from 'node:fs/promises';
import {
  isDeviceId,
  isSignatureAlgorithm,
  keyIdOf,
  type PublicKeyInfo,
} from '../src/contract/index.js';

export const PROVISIONING_FORMAT = 'dalaba-provisioning/1';

export interface ProvisioningBundle {
  deviceId: string;
  /** Absent from a bundle fetched again later (only create and rotate responses carry it). */
  secret?: string;
  mqttUrl?: string;
  topicPrefix?: string;
  signing: { mode: 'off' | 'optional' | 'required'; keys: (PublicKeyInfo & { until?: number })[] };
}

/** A bundle that cannot be used: the message says what is wrong with it. */
export class ProvisioningError extends Error {}

/** Checks a key as given: known algorithm, and a kid that is the hash of that public key. */
export function checkedKey(value: unknown, where: string): PublicKeyInfo & { until?: number } {
  const k = value as Partial<PublicKeyInfo & { until: unknown }> | null;
  if (!k || typeof k.kid !== 'string' || typeof k.publicKey !== 'string')
    throw new ProvisioningError(`${where}: a key needs kid, alg and publicKey`);
  if (!isSignatureAlgorithm(k.alg))
    throw new ProvisioningError(`${where}: unknown algorithm ${String(k.alg)}`);
  // A kid that is not the key's own hash is a copy-paste mistake or a tampered bundle.
  if (keyIdOf(k.alg, k.publicKey) !== k.kid)
    throw new ProvisioningError(`${where}: kid ${k.kid} is not the id of its public key`);
  return {
    kid: k.kid,
    alg: k.alg,
    publicKey: k.publicKey,
    ...(typeof k.until === 'number' ? { until: k.until } : {}),
  };
}

/** Parses a bundle (the JSON the server writes, format `dalaba-provisioning/1`). */
export function parseProvisioningBundle(
  text: string,
  where = 'provisioning bundle',
): ProvisioningBundle {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ProvisioningError(`${where}: not JSON (${(err as Error).message})`);
  }
  if (raw?.format !== PROVISIONING_FORMAT)
    throw new ProvisioningError(`${where}: format is not ${PROVISIONING_FORMAT}`);
  if (!isDeviceId(raw.deviceId)) throw new ProvisioningError(`${where}: no valid deviceId`);
  const signing = (raw.signing ?? {}) as { mode?: unknown; keys?: unknown };
  const mode = signing.mode ?? 'optional';
  if (mode !== 'off' && mode !== 'optional' && mode !== 'required')
    throw new ProvisioningError(`${where}: signing.mode must be off, optional or required`);
  const keys = Array.isArray(signing.keys)
    ? signing.keys.map((k, i) => checkedKey(k, `${where}: signing.keys[${i}]`))
    : [];
  if (mode !== 'off' && keys.length === 0)
    throw new ProvisioningError(`${where}: signing is ${mode} but no keys are given`);
  const text_ = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  return {
    deviceId: raw.deviceId,
    secret: text_(raw.secret),
    mqttUrl: text_(raw.mqttUrl),
    topicPrefix: text_(raw.topicPrefix),
    signing: { mode, keys },
  };
}

export async function readProvisioningBundle(path: string): Promise<ProvisioningBundle> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProvisioningError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
  return parseProvisioningBundle(text, path);
}

/** `kid:alg:publicKey`, as `npm run cli -- keys list` prints it. */
export function parseServerKey(text: string): PublicKeyInfo {
  const parts = text.split(':');
  if (parts.length < 3)
    throw new ProvisioningError(`--server-key ${text}: expected kid:alg:publicKey`);
  const publicKey = parts.pop()!;
  const alg = parts.pop()!;
  return checkedKey({ kid: parts.join(':'), alg, publicKey }, `--server-key ${parts.join(':')}`);
}
