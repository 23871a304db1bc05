/**
 * The few bytes of POSIX ustar an EBD package needs: a flat list of regular files written and read
 * in memory. Hand-written rather than a dependency: packages hold two or three small XML files,
 * and reading only regular files with plain names leaves no path to escape through.
 */

export interface TarFile {
  name: string;
  data: Buffer;
}

const BLOCK = 512;
/** ustar's name field; EBD file names (`EBDS_EBDB_<36 digits>.xml`) are well under it. */
const MAX_NAME = 100;
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

/** Why a byte string is not a package this reader accepts. */
export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 'ascii');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\u000000', 257, 'ascii');
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** A tar of `files` (regular files, in this order), ending with the two zero blocks. */
export function writeTar(files: TarFile[], mtimeMs: number): Buffer {
  const parts: Buffer[] = [];
  const mtime = Math.floor(mtimeMs / 1000);
  for (const f of files) {
    if (!SAFE_NAME.test(f.name) || f.name.length >= MAX_NAME)
      throw new TarError(`file name not allowed in a package: ${f.name}`);
    parts.push(header(f.name, f.data.length, mtime), f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

function field(h: Buffer, start: number, length: number): string {
  const raw = h.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('latin1');
}

function readOctal(h: Buffer, start: number, length: number, what: string): number {
  const text = field(h, start, length).trim();
  if (!/^[0-7]+$/.test(text)) throw new TarError(`bad ${what} field in a tar header`);
  return parseInt(text, 8);
}

/**
 * The regular files of a tar, at most `maxFiles`. Refuses a bad checksum, a truncated file, a
 * name with a directory or anything but `[A-Za-z0-9._-]`, and entries other than files (links,
 * devices); directory entries and pax/GNU long-name headers are refused too, as no EBD package
 * has them.
 */
export function readTar(data: Buffer, maxFiles = 16): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  while (offset + BLOCK <= data.length) {
    const h = data.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) return files;
    const stored = readOctal(h, 148, 8, 'checksum');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== stored) throw new TarError('tar header checksum does not match');
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? field(h, 345, 155) : '';
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const type = String.fromCharCode(h[156] || 48);
    if (type !== '0') throw new TarError(`tar entry ${name} is not a regular file`);
    const stripped = name.startsWith('./') ? name.slice(2) : name;
    if (!SAFE_NAME.test(stripped)) throw new TarError(`tar entry name not allowed: ${name}`);
    const size = readOctal(h, 124, 12, 'size');
    const start = offset + BLOCK;
    if (start + size > data.length) throw new TarError(`tar entry ${name} is truncated`);
    if (files.length >= maxFiles) throw new TarError(`more than ${maxFiles} files in a package`);
    files.push({ name: stripped, data: Buffer.from(data.subarray(start, start + size)) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  if (files.length === 0) throw new TarError('not a tar archive');
  // Some writers leave out the closing zero blocks; what was read is complete.
  return files;
}
