import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type Signal = 'sine' | 'noise' | 'silence';
export type Format = 'wav' | 'mp3' | 'ogg' | 'm4a';

const CODEC: Record<Format, string[]> = {
  wav: ['-c:a', 'pcm_s16le'],
  mp3: ['-c:a', 'libmp3lame', '-b:a', '128k'],
  ogg: ['-c:a', 'libopus', '-b:a', '64k'],
  m4a: ['-c:a', 'aac', '-b:a', '128k'],
};

/** Generates a test recording with ffmpeg (no binary fixtures in the repository). */
export async function makeAudio(
  dir: string,
  name: string,
  options: {
    signal?: Signal;
    seconds?: number;
    format?: Format;
    channels?: 1 | 2;
    rate?: number;
    gainDb?: number;
    /** Of the sine, Hz. */
    frequency?: number;
  } = {},
): Promise<string> {
  const {
    signal = 'sine',
    seconds = 6,
    format = 'wav',
    channels = 1,
    rate = 44100,
    gainDb = -20,
    frequency = 440,
  } = options;
  const source =
    signal === 'sine'
      ? `sine=frequency=${frequency}:sample_rate=${rate}:duration=${seconds}`
      : signal === 'noise'
        ? `anoisesrc=color=pink:sample_rate=${rate}:duration=${seconds}:seed=7`
        : `anullsrc=r=${rate}:cl=mono,atrim=duration=${seconds}`;
  const path = join(dir, `${name}.${format}`);
  await run('ffmpeg', [
    '-hide_banner',
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    source,
    '-af',
    `volume=${gainDb}dB`,
    '-ac',
    String(channels),
    '-ar',
    String(rate),
    ...CODEC[format],
    path,
  ]);
  return path;
}

/** Integrated loudness (LUFS) measured by ffmpeg's ebur128 filter. */
export async function measureLufs(path: string): Promise<number> {
  const { stderr } = await run('ffmpeg', [
    '-hide_banner',
    '-nostats',
    '-i',
    path,
    '-af',
    'ebur128',
    '-f',
    'null',
    '-',
  ]);
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const m = /I:\s+(-?[\d.]+|-inf) LUFS/.exec(summary);
  if (!m) throw new Error(`no loudness in ebur128 output for ${path}`);
  return m[1] === '-inf' ? -Infinity : Number(m[1]);
}

/** Codec, channels, sample rate and duration of a file, by ffprobe. */
export async function probe(
  path: string,
): Promise<{ codec: string; channels: number; sampleRate: number; durationS: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_streams',
    '-show_format',
    '-of',
    'json',
    path,
  ]);
  const json = JSON.parse(stdout) as {
    streams: { codec_name: string; channels: number; sample_rate: string }[];
    format: { duration: string };
  };
  const a = json.streams[0];
  return {
    codec: a.codec_name,
    channels: a.channels,
    sampleRate: Number(a.sample_rate),
    durationS: Number(json.format.duration),
  };
}
