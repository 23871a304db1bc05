/**
 * Why a delivery failed, was refused or was interrupted, as a stable code. A device's `reason`
 * (section 3.4) is free text for people; its beginning names the code: either the code itself
 * (`download_failed: HTTP 404`) or the phrase the reference agent sends (`download failed: …`).
 * The server reads the code from that beginning, so staff get one message per code in their own
 * language while the device's text stays beside it; a reason that matches nothing is `other`.
 */

export interface FailureReason {
  code: string;
  /** What a reason with this code begins with (case does not matter), besides the code itself. */
  begins: readonly string[];
  /** Who gives this reason. */
  from: 'device' | 'server';
  /** What it means, for device makers. */
  meaning: string;
  /** What staff read (Simplified Chinese); the dashboard reads it from web/lib/contract.js. */
  zh: string;
  /** What staff read with the dashboard in English. */
  en: string;
}

export const FAILURE_REASONS = [
  {
    code: 'download_failed',
    begins: ['download failed'],
    from: 'device',
    meaning: 'The clip could not be downloaded (a final 4xx, or no success before `expiresAt`)',
    zh: '音频下载失败',
    en: 'clip download failed',
  },
  {
    code: 'checksum_mismatch',
    begins: ['sha256 mismatch'],
    from: 'device',
    meaning: 'The downloaded clip does not match its `sha256` or `bytes`',
    zh: '音频校验不符（文件不完整或被改动）',
    en: 'clip checksum mismatch',
  },
  {
    code: 'codec_unsupported',
    begins: ['codec'],
    from: 'device',
    meaning: 'The device cannot play the clip’s codec (`codec mp3 not supported`)',
    zh: '设备不支持该音频格式',
    en: 'codec not supported',
  },
  {
    code: 'expired_before_arrival',
    begins: ['expired before it arrived'],
    from: 'device',
    meaning: 'The `play` arrived after its `expiresAt`',
    zh: '指令送达时已过有效期',
    en: 'expired before it arrived',
  },
  {
    code: 'expired_before_play',
    begins: ['expired before it could play', 'expired while waiting'],
    from: 'device',
    meaning:
      '`expiresAt` passed before the device could start (download too slow, or the speaker busy with a more urgent broadcast)',
    zh: '有效期内未能开播',
    en: 'expired before it could play',
  },
  {
    code: 'stopped',
    begins: ['stopped'],
    from: 'device',
    meaning: 'A `play` for a delivery the station had told the device to stop',
    zh: '广播已被停止',
    en: 'stopped by the station',
  },
  {
    code: 'power_lost',
    begins: ['power lost', 'rebooted'],
    from: 'device',
    meaning: 'Power cut or reboot while the delivery was under way (reported with `preempted`)',
    zh: '设备断电或重启',
    en: 'power lost or rebooted',
  },
  {
    code: 'playback_failed',
    begins: ['playback failed', 'player'],
    from: 'device',
    meaning: 'The clip was ready but the player or amplifier failed',
    zh: '播放器或功放故障',
    en: 'player or amplifier failed',
  },
  {
    code: 'no_answer',
    begins: ['no answer after'],
    from: 'server',
    meaning: 'The device never acknowledged the `play` after every resend',
    zh: '多次下发设备均无应答',
    en: 'no answer from the device',
  },
  {
    code: 'interrupted',
    begins: ['interrupted'],
    from: 'server',
    meaning: 'Interrupted by more urgent broadcasts more often than it may be resumed',
    zh: '被更紧急的广播打断，未能续播',
    en: 'interrupted by more urgent broadcasts',
  },
  {
    code: 'other',
    begins: [],
    from: 'device',
    meaning: 'Any other reason, or none: staff see the device’s own text',
    zh: '其他原因（见设备原文）',
    en: 'other (see the device’s text)',
  },
] as const satisfies readonly FailureReason[];

export type FailureCode = (typeof FAILURE_REASONS)[number]['code'];

const BY_CODE = new Map<string, FailureReason>(FAILURE_REASONS.map((r) => [r.code, r]));

/** The code a free-text reason begins with; `other` when none matches (or there is no reason). */
export function failureCode(reason: string | null | undefined): FailureCode {
  const text = (reason ?? '').trim().toLowerCase();
  if (!text) return 'other';
  for (const r of FAILURE_REASONS) {
    if (r.code === 'other') continue;
    const next = text.charAt(r.code.length);
    if (text.startsWith(r.code) && (next === '' || /[\s:：,;]/.test(next))) return r.code;
    if (r.begins.some((b) => text.startsWith(b))) return r.code;
  }
  return 'other';
}

/** The staff message of a code, in Chinese or English. */
export function failureMessage(code: FailureCode, lang: 'zh' | 'en'): string {
  return (BY_CODE.get(code) ?? BY_CODE.get('other')!)[lang];
}
