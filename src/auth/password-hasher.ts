import { Injectable } from '@nestjs/common';
import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';
import type { AuthErrorCode } from './auth-errors.js';

/** OWASP's Argon2id minimum: 19 MiB, two passes, one lane. */
const ARGON2 = { algorithm: 2 /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
/** Hashes at once: each holds a libuv thread for tens of ms, and clip uploads need the pool too. */
const RUNNING = 2;
/** Past this many waiting, sign-in answers 503 at once rather than queueing unboundedly. */
const MAX_WAITING = 32;
export const PASSWORD_MAX_LENGTH = 200;

/** Argon2id hashing, at most {@link RUNNING} at a time so logins never starve the thread pool. */
@Injectable()
export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Verified against when the username is unknown, so both answers take as long. */
  private dummy?: Promise<string>;

  hash(password: string): Promise<string> {
    return this.slot(() => hash(password, ARGON2));
  }

  /** False for a hash that is not Argon2 (e.g. a user who has no password). */
  verify(passwordHash: string | null, password: string): Promise<boolean> {
    if (passwordHash === null || !passwordHash.startsWith('$argon2')) {
      this.dummy ??= this.hash(randomBytes(16).toString('hex'));
      return this.dummy.then((d) => this.slot(() => verify(d, password))).then(() => false);
    }
    return this.slot(() => verify(passwordHash, password));
  }

  private async slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= RUNNING) {
      if (this.waiting.length >= MAX_WAITING) {
        throw new DomainError<AuthErrorCode>(
          'unavailable',
          'LOGIN_BUSY',
          'Too many sign-ins at once; try again in a few seconds',
        );
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter; only an empty queue frees it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(
  password: string,
  username: string,
  minLength: number,
): string | null {
  if (password.length < minLength) return `the password needs at least ${minLength} characters`;
  if (password.length > PASSWORD_MAX_LENGTH)
    return `the password may have at most ${PASSWORD_MAX_LENGTH} characters`;
  if (password.trim().toLowerCase() === username.toLowerCase())
    return 'the password may not be the username';
  return null;
}

/** A password the server makes (first start, reset): 20 characters from 120 random bits. */
export function generateOneTimePassword(minLength: number): string {
  return randomBytes(Math.max(15, Math.ceil((minLength * 3) / 4))).toString('base64url');
}
