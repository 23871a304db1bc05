import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SAMPLE_CREDENTIALS_FILE } from '../config/app-config.js';

export interface DeviceCredential {
  id: string;
  secret: string;
  villageCode: string;
  type: string;
}

interface CredentialsFile {
  note: string;
  devices: DeviceCredential[];
}

export const CREDENTIALS_FILE_NAME = SAMPLE_CREDENTIALS_FILE;

export const credentialsPath = (dataDir: string) => join(dataDir, CREDENTIALS_FILE_NAME);

/** Reads the sample devices' credentials; an absent file is an empty list. */
export async function readCredentials(path: string): Promise<DeviceCredential[]> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<CredentialsFile>;
    return Array.isArray(parsed.devices)
      ? parsed.devices.filter((d) => typeof d?.id === 'string' && typeof d.secret === 'string')
      : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Writes the file atomically, readable by its owner only (0600): it holds device secrets. */
export async function writeCredentials(path: string, devices: DeviceCredential[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const body: CredentialsFile = {
    note: 'Secrets of the SAMPLE devices seeded by Dalaba, for the device agent (npm run fleet -- --county). Keep private.',
    devices: [...devices].sort((a, b) => a.id.localeCompare(b.id)),
  };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
