/**
 * Security events staff see (the board, the village page): why a device refused a command
 * (its `rejected` event's `reason`, section 9.3) and what the server itself refused of a device.
 * One table, as for failure reasons: the dashboard reads the words from web/lib/contract.js.
 */
import type { CommandRejection } from './signing.js';

/** What kind of security event: a device refused a command, or the server refused a device. */
export const SECURITY_EVENT_KINDS = [
  /** The device refused a command (its `rejected` event); `reason` is a {@link CommandRejection}. */
  'command_rejected',
  /** A device's hello carried another public key than the one pinned for it. */
  'device_key_changed',
  /** A device's `playing` or `played` event carried a signature that does not verify. */
  'bad_device_signature',
] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

export interface SecurityReason {
  /** A rejection reason, or a kind of event that has no reasons of its own. */
  code: CommandRejection | Exclude<SecurityEventKind, 'command_rejected'>;
  /** What staff read (Simplified Chinese). */
  zh: string;
  /** What staff read with the dashboard in English. */
  en: string;
}

export const SECURITY_REASONS = [
  { code: 'unsigned', zh: '拒绝了未签名的指令', en: 'refused an unsigned command' },
  {
    code: 'bad_signature',
    zh: '拒绝了签名无效的指令',
    en: 'refused a command with a bad signature',
  },
  {
    code: 'unknown_key',
    zh: '拒绝了未知密钥签名的指令',
    en: 'refused a command signed by an unknown key',
  },
  {
    code: 'revoked_key',
    zh: '拒绝了已吊销或已过期密钥签名的指令',
    en: 'refused a command signed by a revoked or retired key',
  },
  {
    code: 'replayed',
    zh: '拒绝了重放的指令（序号已用过）',
    en: 'refused a replayed command (sequence already seen)',
  },
  { code: 'expired', zh: '拒绝了已过期的指令', en: 'refused an expired command' },
  {
    code: 'wrong_device',
    zh: '拒绝了发给其他设备的指令',
    en: 'refused a command addressed to another device',
  },
  {
    code: 'device_key_changed',
    zh: '设备密钥与登记的不一致，已拒绝',
    en: 'device key differs from the pinned one; refused',
  },
  {
    code: 'bad_device_signature',
    zh: '设备上报的签名无效，已拒绝',
    en: 'device event with a bad signature; refused',
  },
] as const satisfies readonly SecurityReason[];

/** The code staff read an event under: its reason for a refused command, else its kind. */
export function securityCode(kind: SecurityEventKind, reason: string): string {
  return kind === 'command_rejected' ? reason : kind;
}

// Every rejection reason has its words: one added to the contract without them does not compile.
type Unlabelled = Exclude<CommandRejection, (typeof SECURITY_REASONS)[number]['code']>;
const everyReasonLabelled: [Unlabelled] extends [never] ? true : Unlabelled = true;
void everyReasonLabelled;
