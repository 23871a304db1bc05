import { startTestServer } from './dist/test/support/server.js';
import { fixtures } from './dist/test/support/fixtures.js';
import { startAgent, rawClient, mqttUrl } from './dist/test/support/mqtt.js';
const s0 = await startTestServer();
const fx = fixtures(s0.url, s0.adminToken);
const village = (await fx.newVillage((await fx.newTown()).code)).code;
const a = await fx.newDevice(village);
const b = await fx.newDevice(village);
const d = await fx.newDevice(village, { enabled: false });
await s0.close();
const s = await startTestServer({ dataDir: s0.dataDir, adminToken: s0.adminToken });
const url = mqttUrl(s);
const connects = (o) =>
  rawClient(url, o).then(
    (c) => {
      c.end(true);
      return true;
    },
    (e) => {
      console.log('refused', e.message);
      return false;
    },
  );
console.log(await connects({ clientId: a.id, username: a.id, password: a.secret }));
console.log(await connects({ clientId: a.id, username: a.id, password: 'wrong-wrong' }));
console.log(
  await connects({ clientId: 'ghost-device', username: 'ghost-device', password: a.secret }),
);
console.log(await connects({ clientId: d.id, username: d.id, password: d.secret }));
console.log('agent b...');
const ag = await startAgent(url, b, { log: console.log });
console.log('agent up');
await ag.stop();
await s.close();
