/**
 * Transcoding lanes: a 10-second emergency recording uploaded and broadcast at level I while a
 * 29-minute recording is being transcoded, against the same with nothing else to transcode. Timed
 * from the start of the emergency's upload to its clip being ready, to the broadcast API call
 * returning, and to the first and last device having the play command.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { makeAudio } from '../support/audio.js';
import { completed, hrnow, type Stage, until } from './delivery.js';
import { BENCH_TOKEN } from './server.js';

const run = promisify(execFile);

/** The long recording: 29 minutes of pink noise, 128 kbit/s MP3 (~28 MB, under the 50 MB limit). */
export const LONG_SECONDS = 29 * 60;
export const ALERT_SECONDS = 10;

export interface LanesRound {
  /** ms from the start of the emergency's upload until it answered (clip ready: `wait=true`). */
  ready: number;
  /** ms the broadcast API call took. */
  api: number;
  /** ms from the start of the upload until the first / last device had the play command. */
  first: number;
  last: number;
  /** What the long recording's work was doing when the emergency's upload started. */
  longState?: string;
}

/** Generates the long recording once; each round uploads a copy with its own bytes. */
export function makeLongRecording(dir: string): Promise<string> {
  return makeAudio(dir, 'long-29min', {
    signal: 'noise',
    seconds: LONG_SECONDS,
    format: 'mp3',
    gainDb: -18,
  });
}

/** A copy of `path` with a different tag, so the server does not take it for the same upload. */
async function distinctCopy(path: string, tag: string): Promise<string> {
  const out = path.replace(/\.mp3$/, `-${tag}.mp3`);
  await run('ffmpeg', [
    '-hide_banner',
    '-v',
    'error',
    '-y',
    '-i',
    path,
    '-c',
    'copy',
    '-metadata',
    `comment=${tag}`,
    out,
  ]);
  return out;
}

/** A 10-second spoken-alert stand-in: a tone whose pitch differs per round (a new clip each time). */
function makeAlert(dir: string, n: number): Promise<string> {
  return makeAudio(dir, `alert-${n}`, {
    signal: 'sine',
    frequency: 500 + n * 7,
    seconds: ALERT_SECONDS,
    gainDb: -12,
  });
}

async function upload(
  stage: Stage,
  path: string,
  query: string,
): Promise<{ status: number; body: { id: string; status: string } }> {
  const form = new FormData();
  form.append('file', new Blob([await readFile(path)]), path.split('/').pop()!);
  const res = await fetch(`${stage.server.url}/api/clips${query}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${BENCH_TOKEN}` },
    body: form,
  });
  const body = (await res.json()) as { id: string; status: string };
  if (res.status >= 300)
    throw new Error(`upload ${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { status: res.status, body };
}

/** Waits until the server has no ffmpeg work left (`dalaba_ffmpeg_runs`), so rounds do not overlap. */
async function transcoderIdle(stage: Stage): Promise<void> {
  await until(
    async () =>
      Object.values(await stage.server.series('dalaba_ffmpeg_runs')).every((n) => n === 0),
    'the transcoder to be idle',
    600_000,
    100,
  );
}

async function ffmpegState(stage: Stage): Promise<string> {
  const series = await stage.server.series('dalaba_ffmpeg_runs');
  return Object.entries(series)
    .filter(([, n]) => n > 0)
    .map(([labels, n]) => `${labels.replace(/"/g, '')}=${n}`)
    .join(' ');
}

let rounds = 0;

/**
 * One round: with `long`, the long recording is uploaded first and the emergency starts the moment
 * that upload is accepted (checked, its transcode under way); afterwards the long clip is deleted,
 * which stops its work. Without it, the emergency alone.
 */
export async function lanesRound(
  stage: Stage,
  dir: string,
  longRecording: string | null,
): Promise<LanesRound> {
  const n = rounds++;
  await transcoderIdle(stage);
  const alert = await makeAlert(dir, n);
  let longId: string | undefined;
  let longState: string | undefined;
  let copy: string | undefined;
  if (longRecording) {
    copy = await distinctCopy(longRecording, `round-${n}`);
    const accepted = await upload(stage, copy, '');
    if (accepted.status !== 202)
      throw new Error(`long recording: HTTP ${accepted.status}, expected 202 (processing)`);
    longId = accepted.body.id;
    longState = await ffmpegState(stage);
  }
  try {
    const t0 = hrnow();
    const clip = await upload(stage, alert, '?wait=true');
    const ready = hrnow() - t0;
    if (clip.body.status !== 'ready') throw new Error(`alert: ${JSON.stringify(clip.body)}`);
    const t1 = hrnow();
    const b = await stage.server.api<{ id: string }>('POST', '/api/broadcasts', {
      title: `防汛紧急通知 lanes ${n}`,
      clipId: clip.body.id,
      level: 'I',
      target: { all: true },
      attentionTone: true,
    });
    const api = hrnow() - t1;
    await stage.fleet.waitPlayed(b.id, stage.devices);
    await completed(stage, b.id);
    const times = await stage.fleet.times(b.id);
    if (longId) {
      const still = await stage.server.api<{ status: string }>('GET', `/api/clips/${longId}`);
      if (still.status !== 'processing')
        longState = `${longState ?? ''}; long clip already ${still.status} when the alert was played`;
    }
    return {
      ready,
      api,
      first: Math.min(...times.firstReceived) - t0,
      last: Math.max(...times.firstReceived) - t0,
      longState,
    };
  } finally {
    if (longId) await stage.server.api('DELETE', `/api/clips/${longId}`);
    if (copy) await run('rm', ['-f', copy]);
  }
}
