/**
 * Text to speech: 200 Chinese characters (an alert's headline and description) posted to
 * `POST /api/clips/tts` until the answer, which comes with the clip ready to broadcast (spoken by
 * espeak-ng, checked, loudness-normalised, stored, its emergency rendition queued). Target: at
 * most 5 s. Against espeak-ng alone on the same text, run by this process: the rest of the time is
 * the clip pipeline's (ffmpeg).
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { wordsPerMinute } from '../../src/tts/espeak-engine.js';
import { hrnow, until } from './delivery.js';
import type { BenchServer } from './server.js';

export const TTS_CHARS = 200;
export const TTS_TARGET_MS = 5000;

const ALERT =
  '气象台发布暴雨红色预警信号：预计未来三小时内，本县大部分乡镇将出现一百毫米以上的强降水，' +
  '并伴有雷电和短时大风，山洪、泥石流和城乡积涝的风险很高。请沿河、低洼地带和山脚下的村民立即转移到安全地点，' +
  '不要在河道、桥梁和危房附近停留，不要涉水过河。各村干部要挨家挨户通知到位，照顾好老人和孩子，' +
  '关好门窗，切断危险电源，备好手电和饮用水，随时收听村里大喇叭的最新通知，服从统一指挥，确保人身安全。' +
  '如遇险情，请立即拨打一一零或一一九求助，并告知所在村庄和具体位置。';

/** Exactly {@link TTS_CHARS} characters, the last four numbering the round (a new clip each time). */
export function ttsText(round: number): string {
  const tag = `第${String(round % 100).padStart(2, '0')}号`;
  return [...ALERT].slice(0, TTS_CHARS - [...tag].length).join('') + tag;
}

export interface TtsRound {
  /** ms from the request to the answer with the clip ready. */
  ms: number;
  /**
   * CPU ms the server used meanwhile, its finished children (espeak-ng, ffmpeg) included: what
   * the wall time would be on an idle core, since the work runs one step after another.
   */
  cpuMs: number;
  /** Length of the spoken clip, ms. */
  audioMs: number;
}

/** Clock ticks a second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU ms of a process and its waited-for children so far (Linux /proc); NaN elsewhere. */
async function cpuMsOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime stime cutime cstime are 14–17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
    return (ticks * 1000) / TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/**
 * One text through the API, once the previous round's renditions are made (they would share the
 * CPU); fails unless the clip is new and ready.
 */
export async function ttsRound(server: BenchServer, round: number): Promise<TtsRound> {
  await until(
    async () =>
      Object.values(await server.series('dalaba_ffmpeg_runs')).every((count) => count === 0),
    'ffmpeg idle before the round',
    600_000,
    100,
  );
  const cpu0 = await cpuMsOf(server.pid);
  const t0 = hrnow();
  const clip = await server.api<{ status: string; duplicate: boolean; durationMs: number }>(
    'POST',
    '/api/clips/tts',
    { text: ttsText(round) },
  );
  const ms = hrnow() - t0;
  const cpuMs = (await cpuMsOf(server.pid)) - cpu0;
  if (clip.status !== 'ready' || clip.duplicate)
    throw new Error(`clip ${clip.status}${clip.duplicate ? ', a duplicate' : ''}`);
  return { ms, cpuMs, audioMs: clip.durationMs };
}

/** The same text spoken by espeak-ng alone, as the server runs it (its rate, text on stdin, WAV out). */
export async function espeakRound(dir: string, round: number): Promise<TtsRound> {
  const out = join(dir, `espeak-${round}.wav`);
  const t0 = hrnow();
  await new Promise<void>((resolve, reject) => {
    const rate = String(wordsPerMinute(1, 'cmn'));
    const child = spawn('espeak-ng', ['-v', 'cmn', '-s', rate, '-b', '1', '-w', out, '--stdin'], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`espeak-ng exit ${code}`)),
    );
    child.stdin.end(ttsText(round), 'utf8');
  });
  const ms = hrnow() - t0;
  await rm(out, { force: true });
  return { ms, cpuMs: NaN, audioMs: NaN };
}
