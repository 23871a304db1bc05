import { createHash, randomBytes } from 'node:crypto';

const TOKEN_PREFIX = 'dlb_';

/** A new API token: `dlb_` + 256 random bits, base64url. */
export function generateApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Tokens carry 256 random bits, so a fast hash is as safe as a slow one here, and it lets the
 * guard find a token by an indexed lookup.
 */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Enough of a token to recognise it in a list, never enough to use it. */
export function displayPrefix(token: string): string {
  return token.slice(0, 12);
}
