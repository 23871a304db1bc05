import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { generateKeyPair, signBytes, type SignatureAlgorithm } from '../contract/signing.js';
import {
  beijingTime,
  buildPackage,
  type EbdSigner,
  makeEbdId,
  PackageRefusal,
  parseBeijingTime,
  parsePackage,
  readResponse,
  responseXml,
  verifyPackage,
} from './ebd-package.js';
import { ebmToCap } from './ebm-to-cap.js';
import type { BroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import type { ClipDto } from '../clips/dto/clip.dto.js';
import { ebmElement, ebmIdOf } from '../reports/gyt-reports.js';
import { type BroadcastFacts, kindOf } from '../reports/report-sources.js';
import { DOMParser } from '@xmldom/xmldom';
import { readTar, writeTar } from './tar.js';

function signerOf(alg: SignatureAlgorithm) {
  const pair = generateKeyPair(alg);
  const signer: EbdSigner = {
    alg,
    kid: `${alg}-test`,
    sign: (data) => signBytes(alg, pair.privateKey, data),
  };
  return { pair, signer };
}

const SRC = '010334152300000001';
const DEST = '010334150000000001';

function header(type: string, seq = 1n) {
  return {
    ebdId: makeEbdId(SRC, seq),
    type,
    srcEbrId: SRC,
    destEbrId: DEST,
    time: beijingTime(Date.UTC(2026, 11, 2, 0, 0, 0)),
    relatedEbdId: null,
  };
}

describe('tar', () => {
  it('reads back what it writes, and the system tar reads it too', () => {
    const files = [
      { name: 'EBDB_1.xml', data: Buffer.from('<EBD/>') },
      { name: 'audio.mp3', data: Buffer.alloc(1300, 7) },
    ];
    const tar = writeTar(files, Date.UTC(2026, 0, 1));
    assert.deepEqual(readTar(tar), files);
    const dir = mkdtempSync(join(tmpdir(), 'ebd-tar-'));
    writeFileSync(join(dir, 'p.tar'), tar);
    execFileSync('tar', ['-xf', 'p.tar'], { cwd: dir });
    assert.equal(readFileSync(join(dir, 'audio.mp3')).length, 1300);
  });

  it('refuses path names, links and a bad checksum', () => {
    const good = writeTar([{ name: 'a.xml', data: Buffer.from('x') }], 0);
    // A header changed and its checksum made right again: only the content check can refuse it.
    const edited = (edit: (h: Buffer) => void) => {
      const tar = Buffer.from(good);
      edit(tar);
      tar.write('        ', 148, 'ascii');
      const sum = tar.subarray(0, 512).reduce((a, b) => a + b, 0);
      tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
      return tar;
    };
    assert.throws(() => readTar(edited((h) => h.write('../etc/pw\0', 0, 'ascii'))), /not allowed/);
    assert.throws(() => readTar(edited((h) => (h[156] = 0x32))), /not a regular file/);
    const corrupt = Buffer.from(good);
    corrupt[0] = 0x62;
    assert.throws(() => readTar(corrupt), /checksum/);
    assert.throws(() => writeTar([{ name: '../x', data: Buffer.alloc(0) }], 0), /not allowed/);
  });
});

describe('EBD package', () => {
  for (const alg of ['sm2', 'ed25519'] as const) {
    it(`round-trips and verifies a ${alg} signature over the EBDB bytes`, () => {
      const { pair, signer } = signerOf(alg);
      const { tar } = buildPackage(header('EBDResponse'), responseXml('ok'), signer, Date.now());
      const p = parsePackage(tar);
      assert.equal(p.header.ebdId, makeEbdId(SRC, 1n));
      assert.equal(p.header.ebdId.length, 36);
      assert.equal(p.header.destEbrId, DEST);
      assert.equal(verifyPackage(p, alg, pair.publicKey), null);
      assert.deepEqual(readResponse(p), { code: '1', desc: '执行成功' });

      const other = generateKeyPair(alg);
      assert.match(verifyPackage(p, alg, other.publicKey) ?? '', /does not verify/);
      // One byte of the message changed: the signature no longer covers it.
      const files = readTar(tar);
      files[0] = {
        name: files[0].name,
        data: Buffer.from(files[0].data.toString().replace('执行成功', '执行失败')),
      };
      const tampered = parsePackage(writeTar(files, 0));
      assert.match(verifyPackage(tampered, alg, pair.publicKey) ?? '', /does not verify/);
    });
  }

  it('refuses a package without its EBDB, or with a DTD', () => {
    assert.throws(
      () => parsePackage(writeTar([{ name: 'x.xml', data: Buffer.from('<a/>') }], 0)),
      PackageRefusal,
    );
    const id = makeEbdId(SRC, 2n);
    const xxe = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EBD><EBDID>${id}</EBDID></EBD>`;
    assert.throws(
      () => parsePackage(writeTar([{ name: `EBDB_${id}.xml`, data: Buffer.from(xxe) }], 0)),
      /xml\.doctype/,
    );
  });

  it('writes and reads Beijing time', () => {
    const ms = Date.UTC(2026, 11, 2, 16, 30, 5);
    assert.equal(beijingTime(ms), '2026-12-03 00:30:05');
    assert.equal(parseBeijingTime('2026-12-03 00:30:05'), ms);
    assert.equal(parseBeijingTime('2026-02-30 00:00:00'), null);
  });
});

describe('ebmToCap', () => {
  const ebm = (msgType: string, extra = '', sendTime = 'SendTime') =>
    parsePackage(
      buildPackage(
        header('EBM', 9n),
        `<EBM><EBMVersion>1</EBMVersion><EBMID>3410000000000001</EBMID>${extra}<MsgBasicInfo>` +
          `<MsgType>${msgType}</MsgType><SenderName>市应急广播平台</SenderName><SenderCode>341000</SenderCode>` +
          `<${sendTime}>2026-12-02 08:00:00</${sendTime}><EventType>11B03</EventType><Severity>2</Severity>` +
          '<StartTime>2026-12-02 08:00:00</StartTime><EndTime>2026-12-02 10:00:00</EndTime></MsgBasicInfo>' +
          '<MsgContent><LanguageCode>zho</LanguageCode><MsgTitle>暴雨红色预警</MsgTitle><MsgDesc>请转移到高处</MsgDesc>' +
          '<AreaCode>611026100201,611026101</AreaCode></MsgContent></EBM>',
        signerOf('sm2').signer,
        0,
      ).tar,
    ).body!;

  it('reads a broadcast EBM as a CAP Alert with the area as geocodes', () => {
    const alert = ebmToCap(ebm('1'), { superiorEbrId: DEST, attachments: [] });
    assert.equal(alert.msgType, 'Alert');
    assert.equal(alert.identifier, '3410000000000001');
    assert.equal(alert.sent.text, '2026-12-02T08:00:00+08:00');
    assert.equal(alert.sent.ms, Date.UTC(2026, 11, 2, 0, 0, 0));
    const info = alert.infos[0];
    assert.equal(info.severity, 'Severe');
    assert.equal(info.headline, '暴雨红色预警');
    assert.equal(info.expires?.ms, Date.UTC(2026, 11, 2, 2, 0, 0));
    assert.deepEqual(
      info.areas[0].geocodes.map((g) => g.value),
      ['611026100201', '611026101'],
    );
  });

  it('reads the older SentTime when there is no SendTime', () => {
    const alert = ebmToCap(ebm('1', '', 'SentTime'), { superiorEbrId: DEST, attachments: [] });
    assert.equal(alert.sent.text, '2026-12-02T08:00:00+08:00');
  });

  it('reads back the EBM Dalaba itself writes (gyt-reports.ts)', () => {
    const created = Date.UTC(2026, 11, 2, 1, 2, 3, 456);
    const b = {
      id: '0b6f3c1e-9d9e-4a53-8f52-0c7a7d1d2a11',
      title: '暴雨红色预警',
      clipId: 'c0b6f3c1-9d9e-4a53-8f52-0c7a7d1d2a11',
      level: 'II',
      target: { villages: ['611026100201'] },
      status: 'active',
      outcome: null,
      endReason: null,
      createdAt: new Date(created).toISOString(),
      startAt: new Date(created).toISOString(),
      expiresAt: new Date(created + 3_600_000).toISOString(),
      endedAt: null,
    } as unknown as BroadcastDto;
    const f: BroadcastFacts = {
      broadcast: b,
      clip: { id: b.clipId, sha256: 'ab'.repeat(32), bytes: 1234 } as ClipDto,
      alert: null,
      kind: kindOf(b, null),
      areaCodes: ['611026100201', '611026100202'],
      villages: new Map(),
    };
    const who = { ebrId: '611026000000010101', sender: 'dalaba@611026' };
    const xml = ebmElement(f, who, false).toString();
    const element = new DOMParser().parseFromString(xml, 'text/xml')
      .documentElement as unknown as Element;
    const alert = ebmToCap(element, { superiorEbrId: DEST, attachments: [] });
    assert.equal(alert.identifier, ebmIdOf(f, who.ebrId));
    assert.equal(alert.sent.ms, Date.UTC(2026, 11, 2, 1, 2, 3));
    assert.equal(alert.msgType, 'Alert');
    assert.equal(alert.infos[0].severity, 'Severe');
    assert.deepEqual(
      alert.infos[0].areas[0].geocodes.map((g) => g.value),
      f.areaCodes,
    );
  });

  it('reads a stop EBM as a Cancel of the related message', () => {
    const alert = ebmToCap(ebm('2', '<RelatedEBM><EBMID>3410000000000000</EBMID></RelatedEBM>'), {
      superiorEbrId: DEST,
      attachments: [],
    });
    assert.equal(alert.msgType, 'Cancel');
    assert.equal(alert.references[0].identifier, '3410000000000000');
  });
});
