import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DevicesService } from '../src/devices/devices.service.js';
import { VillagesService } from '../src/villages/villages.service.js';
import { api, startTestServer, TestServer } from './support/server.js';

const VILLAGES_CSV = [
  '\uFEFFcode,name,town_code,town_name,lat,lon,quiet_hours',
  '610555100201,东沟村,610555100,乾佑街道,33.68,109.11,22:00-06:00',
  '610555100202,"西岔村, 二组",610555100,乾佑街道,,,',
  '610555101201,老庄村,610555101,营盘镇,33.7,109.2,',
  '610555101202,=SUM(A1),610555101,,,,',
].join('\r\n');

/** GB2312 bytes of `text` (Node has no GBK encoder; the decoder gives the table). */
function gbk(text: string): Buffer {
  const table = new Map<string, number[]>();
  const decoder = new TextDecoder('gbk');
  for (let lead = 0xb0; lead <= 0xf7; lead++)
    for (let trail = 0xa1; trail <= 0xfe; trail++)
      table.set(decoder.decode(Buffer.from([lead, trail])), [lead, trail]);
  return Buffer.from([...text].flatMap((ch) => table.get(ch) ?? [...Buffer.from(ch)]));
}

describe('CSV import and export', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  const postCsv = (path: string, body: string | Buffer, type = 'text/csv') =>
    client.post(path).set('Content-Type', type).send(body);

  beforeAll(async () => {
    s = await startTestServer({ env: { IMPORT_LIMIT: '8mb' } });
    client = api(s.url, s.adminToken);
  });
  afterAll(() => s.close());

  it('dry-runs a villages file: reports what would change and writes nothing', async () => {
    const res = await postCsv('/api/villages/import?dryRun=true', VILLAGES_CSV).expect(200);
    const { preview, ...report } = res.body;
    assert.deepEqual(
      preview.map((r: { line: number; values: { name: string } }) => [r.line, r.values.name]),
      [
        [2, '东沟村'],
        [3, '西岔村, 二组'],
        [4, '老庄村'],
        [5, '=SUM(A1)'],
      ],
    );
    assert.deepEqual(report, {
      dryRun: true,
      ok: true,
      rows: 4,
      created: 4,
      updated: 0,
      unchanged: 0,
      townsCreated: 2,
      townsUpdated: 0,
      problems: [],
      encoding: 'utf-8',
      encodingSource: 'bom',
    });
    await client.get('/api/villages/610555100201').expect(404);
  });

  it('imports villages with Chinese names, a BOM and quoted commas, creating their towns', async () => {
    const res = await postCsv('/api/villages/import', VILLAGES_CSV).expect(200);
    assert.equal(res.body.created, 4);
    assert.equal(res.body.townsCreated, 2);
    const v = (await client.get('/api/villages/610555100202').expect(200)).body;
    assert.equal(v.name, '西岔村, 二组');
    assert.equal(v.townName, '乾佑街道');
    assert.equal(v.lat, null);
    const first = (await client.get('/api/villages/610555100201').expect(200)).body;
    assert.deepEqual([first.lat, first.lon, first.quietHours], [33.68, 109.11, '22:00-06:00']);
    assert.equal(
      (await client.get('/api/villages/610555101202').expect(200)).body.name,
      '=SUM(A1)',
    );
    const audit = await client.get('/api/audit?action=villages/import').expect(200);
    assert.deepEqual(audit.body.items[0].detail.body, {
      csvBytes: Buffer.byteLength(VILLAGES_CSV),
    });
  });

  it('round-trips: the export imports back with nothing changed, and escapes formulas for spreadsheets', async () => {
    const exported = await client.get('/api/villages/export?town=610555100').expect(200);
    assert.match(exported.headers['content-type'], /^text\/csv/);
    assert.match(exported.headers['content-disposition'], /attachment; filename="villages.csv"/);
    assert.ok(
      exported.text.startsWith('\uFEFFcode,name,town_code,town_name,lat,lon,quiet_hours\r\n'),
    );
    assert.match(exported.text, /东沟村/);
    const all = await client.get('/api/villages/export').expect(200);
    assert.match(all.text, /'=SUM\(A1\)/, 'formula-like text is escaped in the file');
    const again = await postCsv('/api/villages/import', all.text).expect(200);
    assert.equal(again.body.unchanged, 4);
    assert.equal(again.body.created + again.body.updated, 0);
    assert.equal(
      (await client.get('/api/villages/610555101202').expect(200)).body.name,
      '=SUM(A1)',
    );
  });

  it('updates only what changed; absent columns are left alone', async () => {
    const res = await postCsv(
      '/api/villages/import',
      'code,name,town_code\n610555100201,东沟新村,610555100\n',
    ).expect(200);
    assert.deepEqual([res.body.updated, res.body.created], [1, 0]);
    const v = (await client.get('/api/villages/610555100201').expect(200)).body;
    assert.equal(v.name, '东沟新村');
    assert.equal(v.quietHours, '22:00-06:00', 'no quiet_hours column: unchanged');
  });

  it('imports nothing when one line is bad, and names the line (400)', async () => {
    const csv = [
      'code,name,town_code,town_name',
      '610555102201,好村,610555102,新镇',
      '610555102202,好村二,610555102,新镇',
      '61055510220X,坏村,610555102,新镇',
      '610555102204,好村四,610555102,别的名字',
      '610555102205,孤村,610555199,',
      '610555102201,重复,610555102,新镇',
    ].join('\n');
    const res = await postCsv('/api/villages/import', csv).expect(400);
    assert.equal(res.body.error, 'IMPORT_INVALID');
    assert.match(res.body.message, /line 4/);
    assert.deepEqual(
      res.body.details.map(
        (p: { line: number; field: string; rule: string }) => `${p.line} ${p.field} ${p.rule}`,
      ),
      ['4 code isVillageCode', '5 town_name consistent', '6 town_code exists', '7 code unique'],
    );
    await client.get('/api/villages/610555102201').expect(404);
    await client.get('/api/towns/610555102').expect(404);

    const dry = await postCsv('/api/villages/import?dryRun=true', csv).expect(200);
    assert.equal(dry.body.ok, false);
    assert.equal(dry.body.problems.length, 4);
  });

  it('reports a malformed CSV line by number', async () => {
    const res = await postCsv(
      '/api/villages/import',
      'code,name,town_code\n610555100201,a,610555100\n610555100202,b\n',
    ).expect(400);
    assert.equal(res.body.details[0].line, 3);
    assert.equal(res.body.details[0].rule, 'columnCount');
    const quote = await postCsv(
      '/api/villages/import',
      'code,name,town_code\n610555100201,"unclosed,610555100\n',
    ).expect(400);
    assert.equal(quote.body.details[0].rule, 'csvSyntax');
  });

  it('reads a GBK file from Excel on Chinese Windows, even when its bytes are also valid UTF-8', async () => {
    // GBK (code page 936), no BOM, no charset: what Excel's plain "CSV" writes. 石坪 and 水泉 are
    // also valid UTF-8 (ʯƺ, ˮȪ); 东沟村 is not.
    const body = Buffer.concat([
      Buffer.from('code,name,town_code,town_name\r\n'),
      Buffer.from('610555103201,'),
      gbk('石坪'),
      Buffer.from(',610555103,'),
      gbk('石坪镇'),
      Buffer.from('\r\n610555103202,'),
      gbk('水泉'),
      Buffer.from(',610555103,'),
      gbk('石坪镇'),
      Buffer.from('\r\n'),
    ]);
    assert.equal(body.toString('utf8').includes('\uFFFD'), true, '石坪镇 is not valid UTF-8');
    const dry = await postCsv('/api/villages/import?dryRun=true', body).expect(200);
    assert.deepEqual(
      [dry.body.ok, dry.body.encoding, dry.body.encodingSource],
      [true, 'gb18030', 'detected'],
    );
    assert.deepEqual(
      dry.body.preview.map((r: { values: { name: string } }) => r.values.name),
      ['石坪', '水泉'],
    );
    await postCsv('/api/villages/import', body).expect(200);
    const names = (await client.get('/api/villages?town=610555103').expect(200)).body.items.map(
      (v: { name: string }) => v.name,
    );
    assert.deepEqual(names, ['石坪', '水泉']);
    assert.equal((await client.get('/api/towns/610555103').expect(200)).body.name, '石坪镇');
  });

  it('reads GBK whose every byte is also valid UTF-8 as GBK, for villages and device labels', async () => {
    const gbkOnly = Buffer.concat([
      Buffer.from('code,name,town_code\n610555103201,'),
      Buffer.from([0xca, 0xaf, 0xc6, 0xba, 0xcb, 0xae, 0xc8, 0xaa]), // 石坪水泉
      Buffer.from(',610555103\n'),
    ]);
    assert.equal(gbkOnly.toString('utf8').includes('\uFFFD'), false, 'valid UTF-8: ʯƺˮȪ');
    const villages = await postCsv('/api/villages/import', gbkOnly).expect(200);
    assert.equal(villages.body.encoding, 'gb18030');
    assert.equal(
      (await client.get('/api/villages/610555103201').expect(200)).body.name,
      '石坪水泉',
    );

    const devices = Buffer.concat([
      Buffer.from('id,village_code,type,label\nsp-1,610555103201,flood_pa,'),
      Buffer.from([0xcb, 0xae, 0xc8, 0xaa]), // 水泉
      Buffer.from('\n'),
    ]);
    const dry = await postCsv('/api/devices/import?dryRun=true', devices).expect(200);
    assert.deepEqual([dry.body.encoding, dry.body.preview[0].values.label], ['gb18030', '水泉']);
    await postCsv('/api/devices/import', devices).expect(200);
    assert.equal((await client.get('/api/devices/sp-1').expect(200)).body.label, '水泉');
  });

  it('follows charset= and ?encoding=, and refuses what it cannot read with confidence', async () => {
    const shuiquan = Buffer.concat([
      Buffer.from('code,name,town_code\n610555103202,'),
      Buffer.from([0xcb, 0xae, 0xc8, 0xaa]),
      Buffer.from(',610555103\n'),
    ]);
    const viaCharset = await postCsv(
      '/api/villages/import?dryRun=true',
      shuiquan,
      'text/csv; charset=gbk',
    ).expect(200);
    assert.deepEqual(
      [viaCharset.body.encoding, viaCharset.body.encodingSource],
      ['gbk', 'charset'],
    );
    const viaParameter = await postCsv(
      '/api/villages/import?dryRun=true&encoding=gb18030',
      shuiquan,
    ).expect(200);
    assert.deepEqual(
      [viaParameter.body.encodingSource, viaParameter.body.preview[0].values.name],
      ['parameter', '水泉'],
    );
    // Labelled UTF-8 but reading as ˮȪ: refused, naming both readings; nothing stored.
    const labelled = await postCsv(
      '/api/villages/import',
      shuiquan,
      'text/csv; charset=utf-8',
    ).expect(400);
    assert.equal(labelled.body.error, 'IMPORT_INVALID');
    assert.equal(labelled.body.details[0].rule, 'encoding');
    assert.match(labelled.body.message, /ˮȪ.*水泉/);
    const dry = await postCsv(
      '/api/villages/import?dryRun=true',
      shuiquan,
      'text/csv; charset=utf-8',
    ).expect(200);
    assert.deepEqual([dry.body.ok, dry.body.encoding], [false, null]);
    // Latin-1 bytes are neither UTF-8 nor GBK.
    const latin1 = Buffer.from('code,name,town_code\n610555103203,caf\xe9,610555103\n', 'latin1');
    const neither = await postCsv('/api/villages/import', latin1).expect(400);
    assert.match(neither.body.message, /neither UTF-8 nor GBK/);
    await client.get('/api/villages/610555103203').expect(404);
    const unknown = await postCsv('/api/villages/import?encoding=klingon', shuiquan).expect(400);
    assert.equal(unknown.body.details[0].field, 'encoding');
    await postCsv('/api/villages/import', shuiquan, 'text/csv; charset=klingon').expect(415);
    assert.equal((await client.get('/api/villages/610555103202').expect(200)).body.name, '水泉');
  });

  it('refuses the wrong content type (415), an empty body (400) and an oversized file (413)', async () => {
    const json = await client.post('/api/villages/import').send({ csv: 'code' }).expect(415);
    assert.equal(json.body.error, 'CSV_REQUIRED');
    await postCsv('/api/villages/import', '').expect(400);
    const big = 'code,name,town_code\n' + '610555100201,x,610555100\n'.repeat(350_000);
    const tooBig = await postCsv('/api/villages/import', big).expect(413);
    assert.equal(tooBig.body.error, 'BODY_TOO_LARGE');
  });

  it('imports devices, issuing secrets once; re-importing the same file changes nothing', async () => {
    const csv = [
      'id,village_code,type,enabled,label,notes',
      'et-610555100201,610555100201,emergency_terminal,true,村委会,',
      'vl-610555100201,610555100201,village_loudspeaker,,大喇叭,"第一行\n第二行"',
      'fp-610555101201,610555101201,flood_pa,否,防汛,',
    ].join('\n');
    const dry = await postCsv('/api/devices/import?dryRun=true', csv).expect(200);
    assert.equal(dry.body.created, 3);
    assert.equal(dry.body.secrets, undefined, 'a dry run issues no secrets');
    await client.get('/api/devices/et-610555100201').expect(404);

    const res = await postCsv('/api/devices/import', csv).expect(200);
    assert.equal(res.body.created, 3);
    assert.equal(res.body.secrets.length, 3);
    const devices = s.server.app.get(DevicesService);
    for (const { id, secret } of res.body.secrets) {
      assert.equal(
        await devices.verifySecret(id, secret),
        id !== 'fp-610555101201',
        `${id} (disabled ones do not verify)`,
      );
    }
    const vl = (await client.get('/api/devices/vl-610555100201').expect(200)).body;
    assert.deepEqual([vl.enabled, vl.notes], [true, '第一行\n第二行']);
    assert.equal(
      (await client.get('/api/devices/fp-610555101201').expect(200)).body.enabled,
      false,
    );

    const exported = await client.get('/api/devices/export?village=610555100201').expect(200);
    assert.equal(exported.text.split('\r\n')[0], '\uFEFFid,village_code,type,enabled,label,notes');
    for (const { secret } of res.body.secrets) assert.ok(!exported.text.includes(secret));

    const again = await postCsv('/api/devices/import', csv).expect(200);
    assert.deepEqual([again.body.created, again.body.updated, again.body.unchanged], [0, 0, 3]);
    assert.deepEqual(again.body.secrets, []);
    const stillValid = res.body.secrets.find((x: { id: string }) => x.id === 'et-610555100201');
    assert.equal(
      await devices.verifySecret(stillValid.id, stillValid.secret),
      true,
      'existing secrets are kept',
    );
  });

  it('refuses a devices file with unknown villages, bad types or ids, naming each line', async () => {
    const csv = [
      'id,village_code,type',
      'ok-1,610555100201,flood_pa',
      'bad/id,610555100201,flood_pa',
      'ok-2,999999999999,flood_pa',
      'ok-3,610555100201,siren',
    ].join('\n');
    const res = await postCsv('/api/devices/import', csv).expect(400);
    assert.deepEqual(
      res.body.details.map((p: { line: number; field: string }) => `${p.line} ${p.field}`),
      ['3 id', '4 village_code', '5 type'],
    );
    await client.get('/api/devices/ok-1').expect(404);
  });

  /** A villages file of `n` lines, in 1,000 towns of up to 999 villages each. */
  const manyVillages = (n: number) => {
    const lines = ['code,name,town_code,town_name'];
    for (let i = 0; i < n; i++) {
      const town = 611000000 + Math.floor(i / 999);
      lines.push(`${town}${String(1 + (i % 999)).padStart(3, '0')},村${i},${town},镇${town}`);
    }
    return lines.join('\n');
  };

  it('refuses a file of more than 100,000 lines, naming the limit, before reading it all', async () => {
    const res = await postCsv('/api/villages/import', manyVillages(100_001)).expect(400);
    assert.equal(res.body.error, 'IMPORT_INVALID');
    assert.deepEqual(res.body.details, [
      {
        line: 1,
        field: 'file',
        rule: 'maxRows',
        message: 'Too many lines: more than 100000; at most 100000 per upload',
      },
    ]);
    await client.get('/api/villages/611000000001').expect(404);
  });

  it('a large import lets the server do other work while it runs', async () => {
    const villages = s.server.app.get(VillagesService);
    const bytes = Buffer.from(manyVillages(20_000));
    // Count turns of the event loop while the import runs: one that never yields allows none.
    let turns = 0;
    let running = true;
    const counting = (async () => {
      while (running) {
        await nextTurn();
        turns++;
      }
    })();
    try {
      for (const dryRun of [true, false]) {
        turns = 0;
        const report = await villages.importCsv({ bytes }, dryRun);
        assert.equal(report.ok, true);
        assert.equal(report.created, 20_000);
        assert.ok(
          turns >= 50,
          `dryRun=${dryRun}: ${turns} turns of the event loop during the import`,
        );
      }
    } finally {
      running = false;
      await counting;
    }
    assert.equal((await client.get('/api/villages/611000020020').expect(200)).body.name, '村19999');
  });
});
