import { readFile } from 'node:fs/promises';
import { DeviceType, isDeviceId, isDeviceType } from '../src/contract/index.js';
import { AgentOptions, DeviceAgent } from './agent.js';

export interface FleetMember {
  id: string;
  secret: string;
  type?: DeviceType;
}

export type FleetOptions = Omit<AgentOptions, 'id' | 'secret' | 'deviceType'> & {
  /** Connections opened at once while ramping up. */
  connectConcurrency?: number;
};

/** Many device agents in one process: a county from its credentials file, or N synthetic devices. */
export class Fleet {
  readonly agents: DeviceAgent[];

  constructor(
    members: FleetMember[],
    private readonly options: FleetOptions,
  ) {
    this.agents = members.map(
      (m) =>
        new DeviceAgent({
          ...options,
          id: m.id,
          secret: m.secret,
          deviceType: m.type,
          batteryPct: m.type === 'speaker_cart' ? 76 : undefined,
        }),
    );
  }

  get(id: string): DeviceAgent | undefined {
    return this.agents.find((a) => a.id === id);
  }

  /** Connects every agent, a few at a time; reports which could not connect (e.g. refused logins). */
  async start(): Promise<{ connected: number; failed: { id: string; error: string }[] }> {
    const failed: { id: string; error: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < this.agents.length) {
        const agent = this.agents[next++];
        try {
          await agent.start();
        } catch (err) {
          failed.push({ id: agent.id, error: (err as Error).message });
          await agent.stop();
        }
      }
    };
    const concurrency = Math.max(1, this.options.connectConcurrency ?? 100);
    await Promise.all(Array.from({ length: Math.min(concurrency, this.agents.length) }, worker));
    return { connected: this.agents.length - failed.length, failed };
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }

  /** Every agent drops its connection abruptly (their Wills fire). */
  kill(): void {
    for (const a of this.agents) a.kill();
  }
}

/** Reads the sample county's credentials file written by the server's seed (DATA_DIR/sample-credentials.json). */
export async function readCredentialsFile(path: string): Promise<FleetMember[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code}); start the server once, or run "npm run seed", to create it`,
      { cause: err },
    );
  }
  const parsed = JSON.parse(text) as {
    devices?: { id?: unknown; secret?: unknown; type?: unknown }[];
  };
  const members = (parsed.devices ?? []).flatMap((d) =>
    isDeviceId(d.id) && typeof d.secret === 'string'
      ? [{ id: d.id, secret: d.secret, type: isDeviceType(d.type) ? d.type : undefined }]
      : [],
  );
  if (members.length === 0) throw new Error(`${path} lists no devices`);
  return members;
}

/**
 * Registers `count` synthetic devices through the server's API (CSV imports: a test town, villages
 * of 100 devices each, the devices) and returns their credentials. Needs an operator token.
 */
export async function registerSyntheticDevices(
  apiUrl: string,
  token: string,
  count: number,
  tag = 'syn',
): Promise<FleetMember[]> {
  const perVillage = 100;
  const villages = Math.ceil(count / perVillage);
  const town = '999999100';
  const villageCode = (i: number) => `${town}${String(i).padStart(3, '0')}`;
  if (villages > 999) throw new Error('at most 99,900 synthetic devices');
  const post = async (path: string, csv: string) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/csv' },
      body: csv,
    });
    const body = (await res.json()) as {
      message?: string;
      secrets?: { id: string; secret: string }[];
    };
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${body.message ?? ''}`);
    return body;
  };
  const villageLines = Array.from(
    { length: villages },
    (_, i) => `${villageCode(i + 1)},合成测试村${i + 1},${town},合成测试镇`,
  );
  await post('/api/villages/import', ['code,name,town_code,town_name', ...villageLines].join('\n'));
  const deviceLines = Array.from(
    { length: count },
    (_, i) =>
      `${tag}-${String(i).padStart(6, '0')},${villageCode(Math.floor(i / perVillage) + 1)},village_loudspeaker`,
  );
  const res = await post(
    '/api/devices/import',
    ['id,village_code,type', ...deviceLines].join('\n'),
  );
  const secrets = res.secrets ?? [];
  if (secrets.length < count) {
    throw new Error(
      `only ${secrets.length} of ${count} devices were new; rotate or delete the old "${tag}-" devices first`,
    );
  }
  return secrets.map((s) => ({ id: s.id, secret: s.secret, type: 'village_loudspeaker' as const }));
}
