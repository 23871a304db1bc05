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
/** Waiting from one address: past this it answers 429, so one client cannot fill the queue. */
export const MAX_WAITING_PER_ADDRESS = 4;
/**
 * Waiting places kept for trusted claims (a browser holding the account's device cookie, a
 * signed-in person): they are served first and never count against {@link MAX_WAITING}, so
 * a flood of sign-ins for made-up names cannot keep the staff out.
 */
const MAX_TRUSTED_WAITING = 8;
export const PASSWORD_MAX_LENGTH = 200;

/** Who wants a hashing slot, for the queue's limits. */
export interface SlotClaim {
  /** The client's address: at most {@link MAX_WAITING_PER_ADDRESS} of its claims wait at once. */
  address?: string;
  /** Served from the reserve, ahead of the others. */
  trusted?: boolean;
}

/** A held hashing slot: verify inside it, then release it (once; later calls do nothing). */
export interface HashSlot {
  verify(passwordHash: string | null, password: string): Promise<boolean>;
  release(): void;
}

/** Argon2id hashing, at most {@link RUNNING} at a time so logins never starve the thread pool. */
@Injectable()
export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly trustedWaiting: (() => void)[] = [];
  private readonly waitingByAddress = new Map<string, number>();
  /** Verified against when the username is unknown, so both answers take as long. */
  private dummy?: Promise<string>;

  async hash(password: string, claim: SlotClaim = {}): Promise<string> {
    const slot = await this.acquire(claim);
    try {
      return await hash(password, ARGON2);
    } finally {
      slot.release();
    }
  }

  /** False for a hash that is not Argon2 (e.g. a user who has no password). */
  async verify(passwordHash: string | null, password: string, claim: SlotClaim = {}) {
    const slot = await this.acquire(claim);
    try {
      return await slot.verify(passwordHash, password);
    } finally {
      slot.release();
    }
  }

  /**
   * Waits for a slot. Sign-in holds it across its re-check and its failure write, so the next
   * waiter for the same account sees that failure (parallel guesses cannot outrun the lock).
   */
  async acquire(claim: SlotClaim = {}): Promise<HashSlot> {
    if (this.running < RUNNING) this.running++;
    else if (claim.trusted) {
      if (this.trustedWaiting.length >= MAX_TRUSTED_WAITING) throw busy();
      await new Promise<void>((resolve) => this.trustedWaiting.push(resolve));
    } else {
      const key = claim.address;
      const mine = key === undefined ? 0 : (this.waitingByAddress.get(key) ?? 0);
      if (mine >= MAX_WAITING_PER_ADDRESS) {
        throw new DomainError<AuthErrorCode>(
          'rate_limited',
          'TOO_MANY_SIGN_INS',
          'Too many sign-ins from this address at once; wait for them to finish',
        );
      }
      if (this.waiting.length >= MAX_WAITING) throw busy();
      if (key !== undefined) this.waitingByAddress.set(key, mine + 1);
      try {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
      } finally {
        if (key !== undefined) {
          const left = (this.waitingByAddress.get(key) ?? 1) - 1;
          if (left > 0) this.waitingByAddress.set(key, left);
          else this.waitingByAddress.delete(key);
        }
      }
    }
    let held = true;
    return {
      verify: (passwordHash, password) => this.verifyHeld(passwordHash, password),
      release: () => {
        if (!held) return;
        held = false;
        // The slot passes straight to the next waiter, trusted first; only empty queues free it.
        const next = this.trustedWaiting.shift() ?? this.waiting.shift();
        if (next) next();
        else this.running--;
      },
    };
  }

  private async verifyHeld(passwordHash: string | null, password: string): Promise<boolean> {
    if (passwordHash === null || !passwordHash.startsWith('$argon2')) {
      // Made once without a slot: a holder waiting for a second slot could wait for ever.
      this.dummy ??= hash(randomBytes(16).toString('hex'), ARGON2);
      await verify(await this.dummy, password);
      return false;
    }
    return verify(passwordHash, password);
  }
}

const busy = () =>
  new DomainError<AuthErrorCode>(
    'unavailable',
    'LOGIN_BUSY',
    'Too many sign-ins at once; try again in a few seconds',
  );

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
