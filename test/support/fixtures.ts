import { api } from './server.js';

let townSeq = 0;
let villageSeq = 0;
let deviceSeq = 0;

/** Fixture builders that write real rows through the API. */
export function fixtures(url: string, token: string) {
  const client = api(url, token);
  return {
    async newTown(overrides: { code?: string; name?: string } = {}) {
      const code = overrides.code ?? `${610900100 + townSeq++}`;
      const res = await client
        .post('/api/towns')
        .send({ code, name: overrides.name ?? `测试镇${code}` })
        .expect(201);
      return res.body as { code: string; name: string };
    },
    async newVillage(townCode: string, overrides: Record<string, unknown> = {}) {
      const code =
        (overrides.code as string) ??
        `${townCode}${String(200 + (villageSeq++ % 800)).padStart(3, '0')}`;
      const res = await client
        .post('/api/villages')
        .send({ code, name: `测试村${code.slice(-3)}`, townCode, ...overrides })
        .expect(201);
      return res.body as { code: string; name: string; townCode: string };
    },
    async newDevice(villageCode: string, overrides: Record<string, unknown> = {}) {
      const id = (overrides.id as string) ?? `dev-${process.pid}-${deviceSeq++}`;
      const res = await client
        .post('/api/devices')
        .send({ id, villageCode, type: 'village_loudspeaker', ...overrides })
        .expect(201);
      return res.body as {
        id: string;
        secret: string;
        villageCode: string;
        type: string;
        enabled: boolean;
      };
    },
  };
}
