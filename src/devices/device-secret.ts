import {
  createHash,
  pbkdf2 as pbkdf2Cb,
  randomBytes,
  scrypt as scryptCb,
  ScryptOptions,
  timingSafeEqual,
} from 'node:crypto';

const KEY_LENGTH = 32;

function scrypt(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(secret, salt, KEY_LENGTH, { ...options, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A new device secret: 256 random bits, base64url (43 characters). */
export function generateDeviceSecret(): string {
  return randomBytes(32).toString('base64url');
}

function sha256(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret).digest();
}

/**
 * Salted hash of a device secret: `sha256$salt$hash`. A fast hash is enough: the server makes
 * every secret (256 random bits), and what makes a slow hash worth its cost is a guessable
 * password, and a slow hash would make a reconnect storm after a restart cost minutes of CPU.
 */
export function hashDeviceSecret(secret: string): string {
  const salt = randomBytes(16);
  return ['sha256', salt.toString('base64url'), sha256(salt, secret).toString('base64url')].join(
    '$',
  );
}

/** True for a stored hash in an older form (`scrypt$…`), to be replaced after a good login. */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith('sha256$');
}

/**
 * Constant-time check of a presented secret against a stored hash: the current `sha256$salt$hash`
 * or the earlier `scrypt$N$r$p$salt$hash` (parameters travel with it). False for anything malformed.
 */
export async function verifyDeviceSecret(secret: string, stored: string): Promise<boolean> {
  if (secret.length > 1024) return false;
  const parts = stored.split('$');
  if (parts.length === 3 && parts[0] === 'sha256') {
    const expected = Buffer.from(parts[2], 'base64url');
    if (expected.length !== KEY_LENGTH) return false;
    return timingSafeEqual(sha256(Buffer.from(parts[1], 'base64url'), secret), expected);
  }
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  if (expected.length !== KEY_LENGTH) return false;
  const key = await scrypt(secret, Buffer.from(parts[4], 'base64url'), { N, r, p });
  return timingSafeEqual(key, expected);
}

/**
 * Iterations of the Mosquitto-format hash. Mosquitto checks passwords on its one event loop, so a
 * reconnect storm of thousands of devices must stay cheap there; the secrets are 256 random bits,
 * which no iteration count makes easier or harder to guess.
 */
export const MOSQUITTO_ITERATIONS = 1000;

function pbkdf2(secret: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2Cb(secret, salt, iterations, 64, 'sha512', (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** The secret as Mosquitto's password file stores it: `$7$iterations$salt$hash` (PBKDF2-SHA512, base64). */
export async function mosquittoHash(secret: string): Promise<string> {
  const salt = randomBytes(12);
  const key = await pbkdf2(secret, salt, MOSQUITTO_ITERATIONS);
  return `$7$${MOSQUITTO_ITERATIONS}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a secret against a `$7$` hash, as Mosquitto would. */
export async function verifyMosquittoHash(secret: string, stored: string): Promise<boolean> {
  const [, seven, iterations, salt, hash] = stored.split('$');
  if (seven !== '7' || !/^\d{1,7}$/.test(iterations ?? '') || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length !== 64) return false;
  return timingSafeEqual(
    await pbkdf2(secret, Buffer.from(salt, 'base64'), Number(iterations)),
    expected,
  );
}

/** Both stored forms of a new secret. */
export async function hashForStorage(
  secret: string,
): Promise<{ secretHash: string; mqttPasswordHash: string }> {
  return { secretHash: hashDeviceSecret(secret), mqttPasswordHash: await mosquittoHash(secret) };
}
