// Town officials for tests that need one before the account API is exercised: a user row written
// straight into the database and an API token owned by it, as `POST /api/users` and
// `POST /api/tokens` with an owner make them.
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ApiTokensService } from '../../src/auth/api-tokens.service.js';
import { UserEntity, UserTownEntity } from '../../src/auth/user.entity.js';
import type { Role } from '../../src/auth/roles.js';
import { normalisePhone } from '../../src/staff/staff.service.js';
import type { TestServer } from './server.js';

export interface StaffMember {
  userId: string;
  username: string;
  /** A bearer token that acts as this person. */
  token: string;
}

/** A person of `role` (town officials act for `towns`) with an API token of their own. */
export async function staffMember(
  s: TestServer,
  role: Role,
  towns: string[] = [],
  opts: { username?: string; phone?: string | null } = {},
): Promise<StaffMember> {
  const app = s.server.app;
  const id = randomUUID();
  const username = opts.username ?? `${role}-${id.slice(0, 8)}`;
  const now = Date.now();
  await app.get(DataSource).transaction(async (m) => {
    await m.getRepository(UserEntity).insert({
      id,
      username,
      displayName: `Test ${username}`,
      phone: normalisePhone(opts.phone),
      role,
      // Not a valid Argon2 hash: nobody signs in with a password as this person.
      passwordHash: '!',
      mustChangePassword: false,
      failedLogins: 0,
      lockedUntil: null,
      passwordChangedAt: now,
      lastLoginAt: null,
      disabledAt: null,
      createdBy: 'test',
      createdAt: now,
      updatedAt: now,
    });
    if (towns.length)
      await m
        .getRepository(UserTownEntity)
        .insert(towns.map((townCode) => ({ userId: id, townCode })));
  });
  const created = await app.get(ApiTokensService).create({
    name: `${username} script`,
    role,
    createdBy: 'test',
    ownerUserId: id,
  });
  return { userId: id, username, token: created.token };
}

/** A town official of these towns, with a token of their own. */
export const townOfficial = (s: TestServer, towns: string[]) =>
  staffMember(s, 'town_official', towns);
