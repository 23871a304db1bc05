// STAND-IN: replaced by h17-sign at merge
import { Injectable } from '@nestjs/common';
import { generateKeyPair, keyIdOf, signBytes, SignatureAlgorithm } from '../contract/signing.js';

/** Stand-in for the server's signing keys: one Ed25519 key held in memory for the process. */
@Injectable()
export class ServerKeys {
  private readonly pair = generateKeyPair('ed25519');

  /** Signs a document (a certificate) with the active key. */
  signDocument(
    data: Buffer,
  ): Promise<{ kid: string; alg: SignatureAlgorithm; publicKey: string; sig: string }> {
    const { alg, publicKey, privateKey } = this.pair;
    return Promise.resolve({
      kid: keyIdOf(alg, publicKey),
      alg,
      publicKey,
      sig: signBytes(alg, privateKey, data),
    });
  }
}
