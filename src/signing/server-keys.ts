// STAND-IN: replaced by h17-sign at merge
import { Injectable } from '@nestjs/common';
import { AnnouncedKey, generateKeyPair, keyIdOf, type KeyPair } from '../contract/signing.js';

/**
 * STAND-IN: replaced by h17-sign at merge. The server's signing keys as devices are told of them;
 * here one Ed25519 key made in memory at start, so provisioning has a key to publish.
 */
@Injectable()
export class ServerKeys {
  private readonly pair: KeyPair = generateKeyPair('ed25519');

  /** Every key a device should hold (active and retiring), and the revoked key ids. */
  published(): Promise<{ keys: AnnouncedKey[]; revoked: string[] }> {
    const { alg, publicKey } = this.pair;
    return Promise.resolve({
      keys: [{ kid: keyIdOf(alg, publicKey), alg, publicKey }],
      revoked: [],
    });
  }
}
