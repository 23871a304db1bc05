/**
 * Devices' own signatures on their delivery events (protocol 1.1), pure: what ingest accepts and
 * the proof it stores, and how a stored proof is read and checked again (the certificate does).
 */
import type { DeliveryEvent } from '../contract/messages.js';
import {
  canonicalJson,
  keyIdOf,
  signingInput,
  verifyBytes,
  type SignatureAlgorithm,
} from '../contract/signing.js';

/** The states a device with its own key signs: the ones coverage counts. */
export const SIGNED_STATES: readonly string[] = ['playing', 'played'];

/** A stored proof: the exact text the device's key signed, its signature, and that key. */
export interface DeviceProof {
  alg: SignatureAlgorithm;
  publicKey: string;
  /** canonicalJson(event without `sig`): what the signature covers, byte for byte. */
  signed: string;
  sig: string;
}

export type SignatureCheck =
  { ok: true; proof: string | null } | { ok: false; detail: string; kid?: string };

/**
 * Whether to take a device event, given the device's pinned key:
 * - signed: it must verify with the pinned key (no key pinned → refused); the proof is kept;
 * - unsigned `playing`/`played` from a device that pinned a key: refused, since such a device
 *   signs them, so an unsigned one is a forgery or a downgrade; other unsigned states pass.
 */
export function checkDeviceSignature(
  message: DeliveryEvent,
  pinned: { alg: SignatureAlgorithm; publicKey: string } | undefined,
): SignatureCheck {
  if (message.sig === undefined) {
    if (pinned && SIGNED_STATES.includes(message.state))
      return {
        ok: false,
        detail: `unsigned ${message.state} from a device whose key ${keyIdOf(pinned.alg, pinned.publicKey)} is pinned`,
      };
    return { ok: true, proof: null };
  }
  if (!pinned) return { ok: false, detail: `signed ${message.state}, but no device key is pinned` };
  const kid = keyIdOf(pinned.alg, pinned.publicKey);
  const input = signingInput(message);
  if (!verifyBytes(pinned.alg, pinned.publicKey, input, message.sig))
    return { ok: false, detail: `signature does not verify with pinned key ${kid}`, kid };
  const proof: DeviceProof = {
    alg: pinned.alg,
    publicKey: pinned.publicKey,
    signed: input.toString('utf8'),
    sig: message.sig,
  };
  return { ok: true, proof: canonicalJson(proof) };
}

/**
 * A stored proof read back and checked again, or null when it does not parse or verify (a row
 * changed by hand): only such a proof lets a certificate call a village device-signed.
 */
export function readDeviceProof(
  text: string,
  expect: { deliveryId: string; state: string },
): (DeviceProof & { kid: string }) | null {
  try {
    const p = JSON.parse(text) as DeviceProof;
    if (
      typeof p.signed !== 'string' ||
      typeof p.sig !== 'string' ||
      typeof p.publicKey !== 'string'
    )
      return null;
    const event = JSON.parse(p.signed) as Record<string, unknown>;
    if (event.deliveryId !== expect.deliveryId || event.state !== expect.state) return null;
    if (!verifyBytes(p.alg, p.publicKey, Buffer.from(p.signed, 'utf8'), p.sig)) return null;
    return {
      alg: p.alg,
      publicKey: p.publicKey,
      signed: p.signed,
      sig: p.sig,
      kid: keyIdOf(p.alg, p.publicKey),
    };
  } catch {
    return null;
  }
}
