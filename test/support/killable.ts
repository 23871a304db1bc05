import { DeviceAgent } from '../../devices/agent.js';
import { makeAudio } from './audio.js';
import { freePort } from './mqtt.js';
import { spawnServer } from './process.js';
import { approvalsOff } from './approvals.js';
import { api, tempDir } from './server.js';

/**
 * The real server as a child process on fixed ports and its own data directory, so a test can
 * SIGKILL it and start it again where the devices (and clients) expect it.
 */
export async function killableServer(adminToken: string, settings: Record<string, string> = {}) {
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${httpPort}`;
  const env = {
    DATA_DIR: tempDir(),
    PORT: String(httpPort),
    MQTT_PORT: String(mqttPort),
    HOST: '127.0.0.1',
    MQTT_HOST: '127.0.0.1',
    PUBLIC_URL: url,
    ADMIN_TOKEN: adminToken,
    SEED_SAMPLE: 'false',
    DISPATCH_TICK_MS: '200',
    ACK_TIMEOUT_S: '1',
    ...settings,
  };
  return {
    url,
    /** Device agents (not started) for these devices, on this server's broker. */
    agents(devices: { id: string; secret: string }[], speed: number): DeviceAgent[] {
      return devices.map(
        (d) =>
          new DeviceAgent({
            url: `mqtt://127.0.0.1:${mqttPort}`,
            id: d.id,
            secret: d.secret,
            speed,
          }),
      );
    },
    /** Starts it (again) and resolves once it is running. */
    async start() {
      const server = spawnServer(env);
      await server.waitFor(/Dalaba is running/);
      return server;
    },
  };
}

/**
 * One town with `villages` villages, `devices` loudspeakers spread over them (ids `<prefix>-<n>`)
 * and a ready clip of `clipSeconds` of noise, through the API. Returns the devices' secrets.
 */
export async function smallCounty(
  url: string,
  adminToken: string,
  options: { devices: number; villages?: number; prefix: string; clipSeconds: number },
): Promise<{ secrets: { id: string; secret: string }[]; clipId: string }> {
  const client = api(url, adminToken);
  await approvalsOff(url, adminToken);
  await client.post('/api/towns').send({ code: '611026100', name: '乾佑街道' }).expect(201);
  const codes = Array.from({ length: options.villages ?? 1 }, (_, i) => `611026100${201 + i}`);
  for (const code of codes)
    await client
      .post('/api/villages')
      .send({ code, name: `村${code.slice(-3)}`, townCode: '611026100' })
      .expect(201);
  const csv = [
    'id,village_code,type',
    ...Array.from(
      { length: options.devices },
      (_, i) => `${options.prefix}-${i},${codes[i % codes.length]},village_loudspeaker`,
    ),
  ].join('\n');
  const secrets = (
    await client.post('/api/devices/import').set('Content-Type', 'text/csv').send(csv).expect(200)
  ).body.secrets as { id: string; secret: string }[];
  const audio = await makeAudio(tempDir(), options.prefix, {
    signal: 'noise',
    seconds: options.clipSeconds,
  });
  const clip = (await client.post('/api/clips?wait=true').attach('file', audio).expect(201))
    .body as { id: string };
  return { secrets, clipId: clip.id };
}
