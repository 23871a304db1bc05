import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import pino from 'pino';
import { AppModule, createAppLogger } from '../app.module.js';
import { ApiTokensService } from '../auth/api-tokens.service.js';
import { isRole, ROLES } from '../auth/roles.js';
import { StartupError } from '../common/startup-error.js';
import { type AppConfig, ConfigError, loadConfigFromProcess } from '../config/app-config.js';
import { DevicesService } from '../devices/devices.service.js';
import {
  buildMosquittoFiles,
  SERVER_LISTENER_PORT,
  writeMosquittoFiles,
} from '../devices/mosquitto-export.js';
import { SeedService } from '../seed/seed.service.js';
import { StaffService } from '../staff/staff.service.js';
import { DomainError } from '../common/domain-error.js';
import { toKeysDto } from '../signing/dto/keys.dto.js';
import { ServerKeys } from '../signing/server-keys.js';
import { EvidenceVerifier, VerifyResult, VerifyScope } from '../evidence/evidence-verifier.js';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  tokens create --role <${ROLES.join('|')}> --name <name> [--json]
                                    create an API token; it is printed once
  tokens list [--all] [--json]      list tokens (never the tokens themselves); --all adds revoked ones
  tokens revoke <id>                revoke a token at once
  users list [--json]               list staff accounts (never their passwords)
  users add --username <u> --name <display name> --role <${ROLES.join('|')}>
            [--towns <code,code>] [--phone <digits>]
                                    add a staff account; its one-time password is printed once
  users reset-password <username>   give an account a new one-time password (printed once); its
                                    sessions end (a lost admin password is recovered this way)
  users unlock <username>           lift the wait after wrong passwords
  keys list [--json]                the server's command-signing keys (public halves only)
  keys rotate                       make a new active key (endorsed by the current one, which is
                                    still accepted for KEY_OVERLAP_H); running servers tell every
                                    online device within seconds
  keys revoke <kid>                 withdraw a retiring key at once (the active key: rotate first)
  mosquitto export --out DIR        write a Mosquitto password file, ACL file and config snippet
                                    for the registry (enabled devices) and the server's own user
                                    (MQTT_USERNAME / MQTT_PASSWORD; a password is generated if unset)
  migrate                           apply pending database migrations (the server does this at
                                    start unless RUN_MIGRATIONS=false)
  seed [--rotate-missing]           add the sample county where it is missing (idempotent);
                                    --rotate-missing issues new secrets for sample devices
                                    whose secret is not in the credentials file
  evidence verify [--broadcast ID] [--from ISO --to ISO] [--json]
                                    recompute the evidence hash chain and hold every delivery
                                    event, delivery state, manual confirmation and cancel to it;
                                    exit 1 naming the first entry or row that does not match
  help                              this text

The CLI uses the same settings as the server (DATA_DIR, DATABASE_URL, …).`;

class UsageError extends Error {}

const OPTIONS = {
  role: { type: 'string' },
  name: { type: 'string' },
  username: { type: 'string' },
  towns: { type: 'string' },
  phone: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  'rotate-missing': { type: 'boolean' },
  broadcast: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean' },
} as const;

type Args = { positional: string[]; flags: ReturnType<typeof parseOptions>['values'] };

function parseOptions(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** The command line, or a {@link UsageError} naming an unknown or malformed option. */
function readArgs(argv: string[]): Args {
  try {
    const { positionals, values } = parseOptions(argv);
    return { positional: positionals, flags: values };
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(err.message);
    throw err;
  }
}

function stringFlag(args: Args, name: 'role' | 'name' | 'out' | 'username'): string {
  const value = args.flags[name];
  if (value === undefined || value.trim() === '')
    throw new UsageError(`--${name} <value> is required`);
  return value.trim();
}

/** `--broadcast`, `--from`, `--to` of `evidence verify`, or a {@link UsageError}. */
function verifyScope(args: Args): VerifyScope {
  const scope: VerifyScope = {};
  const { broadcast, from, to } = args.flags;
  if (broadcast !== undefined) {
    if (broadcast.trim() === '') throw new UsageError('--broadcast <id> needs a broadcast id');
    scope.broadcastId = broadcast.trim();
  }
  const time = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms))
      throw new UsageError(
        `--${name} ${value}: give an ISO 8601 time, e.g. 2026-12-01T08:00:00+08:00`,
      );
    return ms;
  };
  scope.from = time('from', from);
  scope.to = time('to', to);
  if (scope.from !== undefined && scope.to !== undefined && scope.from >= scope.to)
    throw new UsageError('--from must be before --to');
  return scope;
}

/** Runs the check; prints the summary, or the first mismatch; 0 when everything matches, else 1. */
async function verifyEvidence(
  verifier: EvidenceVerifier,
  scope: VerifyScope,
  json: boolean,
): Promise<number> {
  const started = Date.now();
  let said = started;
  // A chain of millions takes minutes: a line on stderr every few seconds says how far it got.
  const result: VerifyResult = await verifier.verify(scope, (phase, done, total) => {
    const now = Date.now();
    if (now - said < 2000) return;
    said = now;
    process.stderr.write(
      `evidence verify: ${phase === 'chain' ? 'entries' : 'broadcasts'} ${done.toLocaleString('en')} of ${total.toLocaleString('en')}\n`,
    );
  });
  // Nothing to check is not a pass: a mistyped id would otherwise read as "verified".
  if (scope.broadcastId !== undefined && result.rows === 0 && result.entries === 0) {
    process.stderr.write(
      `broadcast ${scope.broadcastId}: no such broadcast and no evidence of it\n`,
    );
    return 1;
  }
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const head = result.head ? `head seq ${result.head.seq} ${result.head.hash}` : 'no entries';
    const summary =
      `${result.entries} entr${result.entries === 1 ? 'y' : 'ies'} recomputed, ${result.rows} row(s) in ` +
      `${result.broadcasts} broadcast(s) held to them; ${head}` +
      (result.predating
        ? `; ${result.predating} broadcast(s) predate the chain and are not covered`
        : '');
    if (result.first) {
      const x = result.first;
      process.stdout.write(
        `MISMATCH${x.seq === null ? '' : ` at entry seq ${x.seq}`} (${x.table}${x.rowId === null ? '' : ` ${x.rowId}`}): ${x.problem}\n` +
          `${result.mismatches} mismatch(es) in all; ${summary}\n`,
      );
    } else process.stdout.write(`Evidence verified: ${summary}\n`);
  }
  return result.ok ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const args = readArgs(argv);
  const [command, sub, ...rest] = args.positional;
  if (!command || command === 'help' || args.flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const known =
    (command === 'tokens' && ['create', 'list', 'revoke'].includes(sub ?? '')) ||
    (command === 'keys' && ['list', 'rotate', 'revoke'].includes(sub ?? '')) ||
    (command === 'users' && ['list', 'add', 'reset-password', 'unlock'].includes(sub ?? '')) ||
    (['seed', 'migrate'].includes(command) && sub === undefined) ||
    (command === 'mosquitto' && sub === 'export') ||
    (command === 'evidence' && sub === 'verify' && rest.length === 0);
  if (!known) throw new UsageError(`unknown command: ${args.positional.join(' ')}`);

  // Flags are checked before the app starts, so a typo costs no database connection.
  const scope = command === 'evidence' ? verifyScope(args) : undefined;
  const loaded = loadConfigFromProcess();
  // `migrate` is the one command that must run migrations whatever RUN_MIGRATIONS says.
  const config = command === 'migrate' ? { ...loaded, runMigrations: true } : loaded;
  // Results go to stdout; logs go to stderr so the output can be piped.
  const logger = createAppLogger(config, { logStream: pino.destination({ fd: 2, sync: true }) });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config, logger), {
    logger,
    abortOnError: false,
  });
  try {
    const json = args.flags.json === true;
    if (command === 'migrate') {
      process.stdout.write('Database schema is up to date.\n');
      return 0;
    }
    if (command === 'mosquitto') {
      const out = resolve(stringFlag(args, 'out'));
      const generated =
        config.mqtt.password === undefined ? randomBytes(24).toString('base64url') : undefined;
      const files = await buildMosquittoFiles({
        devices: await app.get(DevicesService).mosquittoCredentials(),
        server: { username: config.mqtt.username, password: config.mqtt.password ?? generated! },
        prefix: config.mqtt.topicPrefix,
        maxPacketBytes: config.mqtt.maxPayloadBytes + 1024,
        dir: out,
        generatedAt: new Date(),
      });
      await writeMosquittoFiles(out, files);
      process.stdout.write(
        `Wrote ${out}/passwd (${files.devices} device(s)), ${out}/acl, ${out}/server-passwd (user ${config.mqtt.username}), ${out}/server-acl, ${out}/mosquitto.conf.\n` +
          `Servers connect to the listener on port ${SERVER_LISTENER_PORT}: MQTT_URL=mqtt://<broker host>:${SERVER_LISTENER_PORT}\n`,
      );
      if (files.skipped.length > 0) {
        process.stdout.write(
          `Left out ${files.skipped.length} device(s) without a Mosquitto hash (issued before it existed); rotate their secrets: ${files.skipped.slice(0, 5).join(', ')}${files.skipped.length > 5 ? ', …' : ''}\n`,
        );
      }
      if (generated) {
        process.stdout.write(
          `No MQTT_PASSWORD was set, so one was generated for user ${config.mqtt.username} (shown once).\n` +
            `Start the server with:\n  MQTT_URL=mqtt://<broker>:1883 MQTT_USERNAME=${config.mqtt.username} MQTT_PASSWORD=${generated}\n`,
        );
      }
      return 0;
    }
    if (command === 'users') return await usersCommand(app.get(StaffService), sub!, rest, args);
    if (command === 'keys') return await keysCommand(app.get(ServerKeys), sub!, rest, json, config);
    if (command === 'evidence')
      return await verifyEvidence(app.get(EvidenceVerifier), scope!, json);
    if (command === 'seed') {
      const result = await app
        .get(SeedService)
        .seed({ rotateMissing: args.flags['rotate-missing'] === true });
      process.stdout.write(
        `Sample county: added ${result.towns} town(s), ${result.villages} village(s), ${result.devices} device(s)` +
          `${result.rotated ? `, rotated ${result.rotated} secret(s)` : ''}.\nDevice credentials: ${result.credentialsFile}\n`,
      );
      return 0;
    }
    const tokens = app.get(ApiTokensService);
    if (sub === 'create') {
      const role = stringFlag(args, 'role');
      if (!isRole(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const created = await tokens.create({
        name: stringFlag(args, 'name'),
        role,
        createdBy: 'cli',
      });
      process.stdout.write(
        json
          ? `${JSON.stringify(created)}\n`
          : `Created ${created.role} token "${created.name}" (id ${created.id}).\n` +
              `Token (shown this once; store it now):\n${created.token}\n`,
      );
    } else if (sub === 'list') {
      const list = await tokens.list(args.flags.all === true);
      if (json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else {
        for (const t of list) {
          process.stdout.write(
            `${t.id}  ${t.role.padEnd(8)}  ${t.tokenPrefix}…  ${t.name}  created ${t.createdAt}` +
              `${t.revokedAt ? `  REVOKED ${t.revokedAt}` : ''}\n`,
          );
        }
        if (list.length === 0) process.stdout.write('No tokens.\n');
      }
    } else {
      const id = rest[0];
      if (!id)
        throw new UsageError('tokens revoke <id>: the token id is required (see tokens list)');
      const revoked = await tokens.revoke(id, 'cli');
      process.stdout.write(`Revoked token ${revoked.id} ("${revoked.name}").\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}

/** `users list|add|reset-password|unlock`: one-time passwords are printed once, never logged. */
async function usersCommand(
  staff: StaffService,
  sub: string,
  rest: string[],
  args: Args,
): Promise<number> {
  if (sub === 'list') {
    const { items } = await staff.page({ limit: 500 });
    if (args.flags.json === true) process.stdout.write(`${JSON.stringify(items)}\n`);
    else {
      for (const u of items) {
        const state = [
          u.disabled ? 'DISABLED' : '',
          u.lockedUntil ? `waits until ${u.lockedUntil}` : '',
          u.mustChangePassword ? 'must change password' : '',
        ].filter(Boolean);
        process.stdout.write(
          `${u.username.padEnd(20)} ${u.role.padEnd(13)} ${u.displayName}` +
            `${u.towns.length ? `  towns ${u.towns.join(',')}` : ''}` +
            `${state.length ? `  (${state.join('; ')})` : ''}\n`,
        );
      }
      if (items.length === 0) process.stdout.write('No staff accounts.\n');
    }
    return 0;
  }
  if (sub === 'add') {
    const role = stringFlag(args, 'role');
    if (!isRole(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const towns =
      args.flags.towns
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean) ?? [];
    const made = await staff.create(
      {
        username: stringFlag(args, 'username'),
        displayName: stringFlag(args, 'name'),
        role,
        towns,
        phone: args.flags.phone ?? null,
      },
      'cli',
    );
    process.stdout.write(
      `Added ${made.role} ${made.username} (id ${made.id}).\n` +
        `One-time password (shown this once; it must be changed at first sign-in):\n${made.oneTimePassword}\n`,
    );
    return 0;
  }
  const username = rest[0];
  if (!username) throw new UsageError(`users ${sub} <username>: the username is required`);
  const user = await staff.findByUsername(username);
  if (sub === 'unlock') {
    await staff.unlock(user.id, 'cli');
    process.stdout.write(`Unlocked ${user.username}: sign-in no longer waits.\n`);
    return 0;
  }
  const { oneTimePassword } = await staff.resetPassword(user.id, 'cli');
  process.stdout.write(
    `New one-time password for ${user.username} (shown this once; their sessions have ended):\n${oneTimePassword}\n`,
  );
  return 0;
}

/** `keys list|rotate|revoke`: never prints a private key. */
async function keysCommand(
  keys: ServerKeys,
  sub: string,
  rest: string[],
  json: boolean,
  config: AppConfig,
): Promise<number> {
  if (sub === 'list') {
    const listing = toKeysDto(await keys.list(), config.signing.mode);
    if (json) process.stdout.write(`${JSON.stringify(listing)}\n`);
    else {
      for (const k of listing.items) {
        const until = k.until ? `  until ${k.until}` : '';
        const revoked = k.revokedAt ? `  revoked ${k.revokedAt}` : '';
        process.stdout.write(
          `${k.kid}  ${k.status.padEnd(8)}  created ${k.createdAt}${until}${revoked}  ${k.publicKey}\n`,
        );
      }
      process.stdout.write(`COMMAND_SIGNING=${listing.signing}\n`);
    }
    return 0;
  }
  if (sub === 'rotate') {
    const made = await keys.rotate();
    const previous = made.endorsedBy ?? '?';
    process.stdout.write(
      `New active key ${made.kid} (${made.alg}), endorsed by ${previous}.\n` +
        `Key ${previous} is still accepted for ${config.signing.keyOverlapMs / 3_600_000} h (KEY_OVERLAP_H); running servers announce the change to online devices within seconds.\n`,
    );
    return 0;
  }
  const kid = rest[0];
  if (!kid) throw new UsageError('keys revoke <kid>: the key id is required (see keys list)');
  await keys.revoke(kid);
  process.stdout.write(
    `Revoked key ${kid}. Running servers tell online devices within seconds; a device that knew only this key must be provisioned again.\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    else if (err instanceof ConfigError || err instanceof StartupError)
      process.stderr.write(`${err.message}\n`);
    else if (
      err instanceof DomainError ||
      (err instanceof Error &&
        'code' in err &&
        typeof err.code === 'string' &&
        /_NOT_FOUND$/.test(err.code))
    ) {
      process.stderr.write(`${err.message}\n`);
    } else process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
