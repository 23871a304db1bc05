import { Injectable, Logger } from '@nestjs/common';
import type { Hello } from '../contract/messages.js';
import {
  isSignatureAlgorithm,
  keyIdOf,
  SignatureAlgorithm,
  type PublicKeyInfo,
} from '../contract/signing.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { ThrottledLog } from '../common/throttled-log.js';
import type { DeviceErrorCode } from './device-errors.js';
import { DeviceKeysRepository, PinnedKey } from './device-keys.repository.js';
import { SecurityEvents } from './security-events.js';

export type { PinnedKey };

/** Raw public key length per algorithm (spec: Keys and encodings). */
const KEY_BYTES: Record<SignatureAlgorithm, number> = { ed25519: 32, sm2: 65 };

/**
 * Whether `publicKey` is a well-formed key of `alg`: canonical base64url without padding of the
 * right length (SM2: an uncompressed point, 04 ‖ x ‖ y), so that its key id is well defined.
 */
export function isWellFormedKey(alg: unknown, publicKey: unknown): alg is SignatureAlgorithm {
  if (!isSignatureAlgorithm(alg) || typeof publicKey !== 'string') return false;
  const raw = Buffer.from(publicKey, 'base64url');
  if (raw.toString('base64url') !== publicKey || raw.length !== KEY_BYTES[alg]) return false;
  if (alg === 'sm2' && raw[0] !== 4) return false;
  try {
    return keyIdOf(alg, publicKey).startsWith(`${alg}-`);
  } catch {
    return false;
  }
}

/** A pinned key as the API shows it. */
export interface DeviceKeyInfo extends PublicKeyInfo {
  deviceId: string;
  pinnedAt: number;
}

/**
 * Devices' own keys (protocol 1.1): pinned from the first hello that carries one, trust on first
 * use; a different key later is not pinned but recorded as a security event, until an operator
 * clears the pin. Delivery ingest asks here for the keys that `playing`/`played` must verify with.
 */
@Injectable()
export class DeviceKeys {
  private readonly logger = new Logger('device-keys');
  private readonly log = new ThrottledLog(this.logger);
  /** Pins being written, so an event right behind its hello finds the key. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly repo: DeviceKeysRepository,
    private readonly security: SecurityEvents,
    private readonly clock: Clock,
  ) {}

  /**
   * A hello: pins its key on first sight, records a changed one. Never rejects (it runs on the
   * MQTT path); resolves once the pin is stored, and the hello's PUBACK waits for that.
   */
  heard(deviceId: string, hello: Hello, at: number): Promise<void> {
    if (hello.keyAlg === undefined && hello.publicKey === undefined) return Promise.resolve();
    const previous = this.pending.get(deviceId) ?? Promise.resolve();
    const run = previous
      .then(() => this.pinOrCompare(deviceId, hello, at))
      .catch((err: Error) =>
        this.logger.error(`device=${deviceId} key from hello not handled: ${err.message}`),
      );
    this.pending.set(deviceId, run);
    void run.then(() => {
      if (this.pending.get(deviceId) === run) this.pending.delete(deviceId);
    });
    return run;
  }

  /** The pinned keys of these devices, after any pin of theirs still being written. */
  async pinnedKeys(deviceIds: Iterable<string>): Promise<Map<string, PinnedKey>> {
    const ids = [...new Set(deviceIds)];
    if (!ids.length) return new Map();
    const waits = ids.flatMap((id) => this.pending.get(id) ?? []);
    if (waits.length) await Promise.all(waits);
    return this.repo.keysOf(ids);
  }

  async get(deviceId: string): Promise<DeviceKeyInfo> {
    const key = await this.repo.keyOf(deviceId);
    if (key === undefined) throw new NotFoundError('device', deviceId);
    if (key === null) throw notPinned(deviceId);
    return {
      deviceId,
      kid: keyIdOf(key.alg, key.publicKey),
      alg: key.alg,
      publicKey: key.publicKey,
      pinnedAt: key.pinnedAt,
    };
  }

  /** An operator forgets a device's key: its next hello with a key pins that one. */
  async clear(deviceId: string): Promise<void> {
    if (await this.repo.clear(deviceId)) {
      this.logger.log(`device=${deviceId} device key cleared: the next hello pins a new one`);
      return;
    }
    if ((await this.repo.keyOf(deviceId)) === undefined)
      throw new NotFoundError('device', deviceId);
    throw notPinned(deviceId);
  }

  private async pinOrCompare(deviceId: string, hello: Hello, at: number): Promise<void> {
    const { keyAlg, publicKey } = hello;
    if (!isWellFormedKey(keyAlg, publicKey)) {
      this.log.warn(
        `badkey:${deviceId}`,
        `device=${deviceId} hello carries a malformed device key (keyAlg=${String(keyAlg).slice(0, 16)}); not pinned`,
        at,
      );
      return;
    }
    const kid = keyIdOf(keyAlg, publicKey as string);
    const key: PinnedKey = { alg: keyAlg, publicKey: publicKey as string, pinnedAt: at };
    // Read first: a fleet reconnecting says the same keys again, and a read costs the writer nothing.
    let current = await this.repo.keyOf(deviceId);
    if (current === null) {
      if (await this.repo.pin(deviceId, key)) {
        this.logger.log(`device=${deviceId} device key ${kid} pinned`);
        return;
      }
      current = await this.repo.keyOf(deviceId); // another server pinned one meanwhile
    }
    if (!current) return; // deleted meanwhile
    if (current.alg === key.alg && current.publicKey === key.publicKey) return;
    const pinnedKid = keyIdOf(current.alg, current.publicKey);
    this.log.warn(
      `changed:${deviceId}`,
      `device=${deviceId} device_key_changed: offers ${kid} but ${pinnedKid} is pinned; not pinned: its signed events are refused until an operator clears the pin`,
      at,
    );
    await this.security.record({
      deviceId,
      kind: 'device_key_changed',
      reason: 'device_key_changed',
      detail: `offered ${kid}, pinned ${pinnedKid}`,
      kid,
      at: this.clock.now().getTime(),
    });
  }
}

function notPinned(deviceId: string): DomainError<DeviceErrorCode> {
  return new DomainError<DeviceErrorCode>(
    'not_found',
    'DEVICE_KEY_NOT_PINNED',
    `Device ${deviceId} has no pinned device key`,
  );
}
