import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, signBytes, type KeyPair } from '../../src/contract/signing.js';
import {
  beijingTime,
  buildPackage,
  EBD_TYPES,
  type EbdSigner,
  makeEbdId,
  type ParsedPackage,
  parsePackage,
  responseXml,
  verifyPackage,
} from '../../src/superior/ebd-package.js';
import { api } from './server.js';

/** The station's resource code (EBR_ID) and its superior's, as the superior tests set them. */
export const STATION_EBR = '010361102600000001';
export const SUPERIOR_EBR = '010361100000000001';

/** One package as the simulated superior received it. */
export interface Received {
  ebdId: string;
  type: string;
  /** Answered with a receipt (the superior was up). */
  accepted: boolean;
  verified: string | null;
  body: ParsedPackage;
}

/**
 * A superior platform on a real HTTP port: reads each multipart upload's tar, checks its
 * signature with the key Dalaba shows, answers 503 while `down`, else a signed EBDResponse.
 */
export class FakeSuperior {
  readonly key: KeyPair = generateKeyPair('sm2');
  readonly received: Received[] = [];
  down = false;
  /** The first package of this type, and it again, is answered 500 (one package it chokes on). */
  poisonType: string | null = null;
  readonly poisoned = new Set<string>();
  /** The result code of the receipts (the superior refusing what it gets: `failed`). */
  answer: 'ok' | 'failed' = 'ok';
  /** Words added to the receipts' ResultDesc (what a superior says about a refusal). */
  answerDetail: string | undefined = undefined;
  /** Dalaba's public key, read from its status route. */
  stationKey = '';
  private seq = 0n;
  private server!: Server;
  url = '';

  get signer(): EbdSigner {
    return {
      alg: 'sm2',
      kid: 'superior-test',
      sign: (data) => signBytes('sm2', this.key.privateKey, data),
    };
  }

  /** The variables that turn a station's link on, to this superior (SM2, as in the field). */
  env(): Record<string, string> {
    return {
      COMMAND_SIGNING_ALG: 'sm2',
      SUPERIOR_URL: this.url,
      EBR_ID: STATION_EBR,
      SUPERIOR_EBR_ID: SUPERIOR_EBR,
      SUPERIOR_PUBLIC_KEY: Buffer.from(this.key.publicKey, 'base64url').toString('hex'),
    };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ebd`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  /** A package from the superior to the station. */
  pack(
    type: string,
    bodyXml: string,
    relatedEbdId: string | null = null,
    o: { srcEbrId?: string; timeMs?: number } = {},
  ) {
    this.seq += 1n;
    const header = {
      ebdId: makeEbdId(o.srcEbrId ?? SUPERIOR_EBR, this.seq),
      type,
      srcEbrId: o.srcEbrId ?? SUPERIOR_EBR,
      destEbrId: STATION_EBR,
      time: beijingTime(o.timeMs ?? Date.now()),
      relatedEbdId,
    };
    return { ebdId: header.ebdId, tar: buildPackage(header, bodyXml, this.signer, Date.now()).tar };
  }

  accepted(type?: string): Received[] {
    return this.received.filter((r) => r.accepted && (type === undefined || r.type === type));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const boundary = /boundary=(.+)$/.exec(req.headers['content-type'] ?? '')?.[1];
    assert.ok(boundary, 'a multipart upload');
    const start = body.indexOf('\r\n\r\n') + 4;
    const end = body.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
    const p = parsePackage(body.subarray(start, end));
    const verified = verifyPackage(p, 'sm2', this.stationKey);
    const poison =
      p.header.type === this.poisonType &&
      (this.poisoned.size === 0 || this.poisoned.has(p.header.ebdId));
    if (poison) this.poisoned.add(p.header.ebdId);
    const entry: Received = {
      ebdId: p.header.ebdId,
      type: p.header.type,
      accepted: !this.down && !poison,
      verified,
      body: p,
    };
    this.received.push(entry);
    if (this.down || poison) {
      res.writeHead(poison ? 500 : 503).end('maintenance');
      return;
    }
    const receipt = this.pack(
      EBD_TYPES.response,
      responseXml(verified === null ? this.answer : 'badSignature', this.answerDetail),
      p.header.ebdId,
    );
    res.writeHead(200, { 'content-type': 'application/x-tar' }).end(receipt.tar);
  }
}

/**
 * A level II EBM (heavy rain, sent by 611000) for one area code, sent at `sentMs` (Beijing time),
 * ending an hour later unless `endless`.
 */
export function ebmXml(
  ebmId: string,
  areaCode: string,
  sentMs: number,
  { endless = false }: { endless?: boolean } = {},
): string {
  const sent = beijingTime(sentMs);
  const end = endless ? '' : `<EndTime>${beijingTime(sentMs + 3_600_000)}</EndTime>`;
  return (
    `<EBM><EBMVersion>1</EBMVersion><EBMID>${ebmId}</EBMID><MsgBasicInfo>` +
    '<MsgType>1</MsgType><SenderName>市应急广播平台</SenderName><SenderCode>611000</SenderCode>' +
    `<SendTime>${sent}</SendTime><EventType>11B03</EventType><Severity>2</Severity>` +
    `<StartTime>${sent}</StartTime>${end}</MsgBasicInfo>` +
    '<MsgContent><LanguageCode>zho</LanguageCode><MsgTitle>暴雨红色预警</MsgTitle>' +
    `<MsgDesc>请沿河群众立即转移</MsgDesc><AreaCode>${areaCode}</AreaCode></MsgContent></EBM>`
  );
}

/** Builds a multipart upload of a package, as the platforms in the field post them. */
export function multipart(tar: Buffer, ebdId: string): { type: string; body: Buffer } {
  const boundary = 'superiortestboundary';
  return {
    type: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="EBDT_${ebdId}.tar"\r\n` +
          'Content-Type: application/x-tar\r\n\r\n',
      ),
      tar,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
  };
}

/** POSTs a package to the station; the answer's body as bytes. */
export async function postPackage(
  url: string,
  body: Buffer,
  contentType = 'application/x-tar',
  status = 200,
): Promise<{ body: Buffer; headers: Record<string, string> }> {
  const res = await api(url)
    .post('/superior/ebd')
    .set('Content-Type', contentType)
    .send(body)
    .buffer(true)
    .parse((r, cb) => {
      const c: Buffer[] = [];
      r.on('data', (d: Buffer) => c.push(d));
      r.on('end', () => cb(null, Buffer.concat(c)));
    })
    .expect(status);
  return { body: res.body as Buffer, headers: res.headers as Record<string, string> };
}
