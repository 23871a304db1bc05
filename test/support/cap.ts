import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A CAP time in Beijing time with its offset, as Chinese feeds write them (CAP refuses `Z`). */
export function capTime(ms: number): string {
  const local = new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19);
  return `${local}+08:00`;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface CapResourceSpec {
  mimeType: string;
  size?: number;
  uri?: string;
  derefUri?: string;
  digest?: string;
}

export interface CapAreaSpec {
  areaDesc?: string;
  polygons?: string[];
  circles?: string[];
  geocodes?: { valueName: string; value: string }[];
}

export interface CapInfoSpec {
  language?: string;
  event?: string;
  urgency?: string;
  severity?: string;
  certainty?: string;
  effective?: string;
  onset?: string;
  expires?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  resources?: CapResourceSpec[];
  areas?: CapAreaSpec[];
}

export interface CapSpec {
  identifier?: string;
  sender?: string;
  sent?: string;
  status?: string;
  msgType?: string;
  references?: string;
  infos?: CapInfoSpec[];
}

/** A CAP 1.2 message, element order as the schema wants it; sensible defaults for a real alert. */
export function capXml(spec: CapSpec = {}): {
  xml: string;
  identifier: string;
  sender: string;
  sent: string;
} {
  const identifier = spec.identifier ?? `TEST-${randomUUID()}`;
  const sender = spec.sender ?? 'weather@zhashui.example';
  const sent = spec.sent ?? capTime(Date.now() - 1000);
  const infos = (spec.infos ?? [{}]).map(infoXml).join('');
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">` +
    `<identifier>${esc(identifier)}</identifier><sender>${esc(sender)}</sender><sent>${sent}</sent>` +
    `<status>${spec.status ?? 'Actual'}</status><msgType>${spec.msgType ?? 'Alert'}</msgType>` +
    `<scope>Public</scope>` +
    (spec.references ? `<references>${esc(spec.references)}</references>` : '') +
    infos +
    `</alert>`;
  return { xml, identifier, sender, sent };
}

function infoXml(i: CapInfoSpec): string {
  const opt = (name: string, value: string | undefined) =>
    value === undefined ? '' : `<${name}>${esc(value)}</${name}>`;
  return (
    `<info>` +
    opt('language', i.language ?? 'zh-CN') +
    `<category>Met</category>` +
    `<event>${esc(i.event ?? '暴雨')}</event>` +
    `<urgency>${i.urgency ?? 'Immediate'}</urgency><severity>${i.severity ?? 'Severe'}</severity>` +
    `<certainty>${i.certainty ?? 'Observed'}</certainty>` +
    opt('effective', i.effective) +
    opt('onset', i.onset) +
    opt('expires', i.expires ?? capTime(Date.now() + 3_600_000)) +
    opt('senderName', '柞水县气象局') +
    opt('headline', i.headline ?? '柞水县气象台发布暴雨橙色预警') +
    opt('description', i.description ?? '预计未来六小时内降雨量将达五十毫米以上。') +
    opt('instruction', i.instruction) +
    (i.resources ?? []).map(resourceXml).join('') +
    (i.areas ?? [{ geocodes: [{ valueName: 'GB/T 2260', value: '611026100' }] }])
      .map(areaXml)
      .join('') +
    `</info>`
  );
}

function resourceXml(r: CapResourceSpec): string {
  return (
    `<resource><resourceDesc>音频</resourceDesc><mimeType>${r.mimeType}</mimeType>` +
    (r.size === undefined ? '' : `<size>${r.size}</size>`) +
    (r.uri === undefined ? '' : `<uri>${esc(r.uri)}</uri>`) +
    (r.derefUri === undefined ? '' : `<derefUri>${r.derefUri}</derefUri>`) +
    (r.digest === undefined ? '' : `<digest>${r.digest}</digest>`) +
    `</resource>`
  );
}

function areaXml(a: CapAreaSpec): string {
  return (
    `<area><areaDesc>${esc(a.areaDesc ?? '营盘镇')}</areaDesc>` +
    (a.polygons ?? []).map((p) => `<polygon>${p}</polygon>`).join('') +
    (a.circles ?? []).map((c) => `<circle>${c}</circle>`).join('') +
    (a.geocodes ?? [])
      .map(
        (g) =>
          `<geocode><valueName>${esc(g.valueName)}</valueName><value>${g.value}</value></geocode>`,
      )
      .join('') +
    `</area>`
  );
}

/** A self-signed test certificate and its key (TEST ONLY: made in `dir` for this run). */
export async function testCertificate(
  dir: string,
  name: string,
  newkey: string[] = ['rsa:2048'],
): Promise<{ keyPem: string; certPem: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    ...newkey,
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}/O=Dalaba test`,
  ]);
  return { keyPem: await readFile(key, 'utf8'), certPem: await readFile(cert, 'utf8') };
}

/** A legitimate Atom feed of `n` linked CAP entries: 4n + 1 elements (the XML pool's test, its bench). */
export function atomFeed(n: number): Buffer {
  const entries = Array.from(
    { length: n },
    (_, i) =>
      `<entry><id>urn:e${i}</id><updated>2026-12-02T08:00:00+08:00</updated>` +
      `<link type="application/cap+xml" href="alerts/${i}.xml"/></entry>`,
  ).join('');
  return Buffer.from(`<feed xmlns="http://www.w3.org/2005/Atom">${entries}</feed>`, 'utf8');
}
