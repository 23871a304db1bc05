/**
 * The EBD data package of the emergency-broadcast platform interface (GD/J 083-2018, now GY/T
 * 384-2023; signature file per GD/J 081 / GY/T 389): a tar `EBDT_<EBDID>.tar` holding the
 * message file `EBDB_<EBDID>.xml` and its signature file `EBDS_EBDB_<EBDID>.xml`. What Dalaba
 * does differently from the standard is listed in docs/superior.md, "Package format".
 */
import { CapRefusal } from '../alerts/cap/cap-model.js';
import { childElements, parseXmlSafely } from '../alerts/cap/safe-xml.js';
import { el, raw, xmlDocument } from '../common/xml-writer.js';
import { type SignatureAlgorithm, verifyBytes } from '../contract/signing.js';
import { readTar, type TarFile, writeTar } from './tar.js';

/** The EBD version Dalaba writes (the value every platform seen in practice writes). */
export const EBD_VERSION = '1.0';

/** Package types Dalaba sends or answers (EBDType). */
export const EBD_TYPES = {
  ebm: 'EBM',
  stateResponse: 'EBMStateResponse',
  terminalState: 'EBRDTState',
  brdLog: 'EBMBrdLog',
  heartbeat: 'ConnectionCheck',
  response: 'EBDResponse',
  /** Queries from above, answered through the outbox (superior-inbound.ts). */
  stateRequest: 'EBMStateRequest',
  omdRequest: 'OMDRequest',
} as const;

/**
 * EBDResponse result codes (ResultCode) and the words sent with them (ResultDesc), as the
 * platforms in the field answer them.
 */
export const RESULT_CODES = {
  ok: { code: '1', desc: '执行成功' },
  failed: { code: '2', desc: '接收失败' },
  unsupported: { code: '3', desc: '该接口暂不支持' },
  badSignature: { code: '4', desc: '签名验证失败' },
} as const;
export type ResultKind = keyof typeof RESULT_CODES;

/** The signature file's algorithm names, by Dalaba's algorithm. */
const ALGORITHM_NAMES: Record<SignatureAlgorithm, { digest: string; signature: string }> = {
  sm2: { digest: 'SM3', signature: 'SM2' },
  ed25519: { digest: 'SHA512', signature: 'Ed25519' },
};

/** The envelope fields every package carries. */
export interface EbdHeader {
  /** 36 digits: `01` ‖ the sender's EBRID (18) ‖ a 16-digit sequence. */
  ebdId: string;
  type: string;
  srcEbrId: string;
  destEbrId: string;
  /** Beijing time, `YYYY-MM-DD HH:mm:ss`. */
  time: string;
  /** The package this one answers (RelatedEBD), if any. */
  relatedEbdId: string | null;
}

/** What signs a package: the server's active key. */
export interface EbdSigner {
  alg: SignatureAlgorithm;
  kid: string;
  /** The 64-byte signature of `data`, base64url. */
  sign(data: Buffer): string;
}

export interface EbdSignature {
  ebdId: string;
  alg: SignatureAlgorithm | null;
  certSn: string;
  /** Standard base64, as the file carries it. */
  value: string;
}

export interface ParsedPackage {
  header: EbdHeader;
  /** The EBDB file, exactly as received (the signature covers these bytes). */
  ebdb: Buffer;
  /** The element named by EBDType (e.g. `<EBM>`), null when the package has none. */
  body: Element | null;
  signature: EbdSignature | null;
  /** Other files (an EBM's audio), by name. */
  attachments: TarFile[];
}

/** Why a package was not read; `result` is the receipt's code. */
export class PackageRefusal extends Error {
  constructor(
    readonly result: ResultKind,
    message: string,
  ) {
    super(message);
    this.name = 'PackageRefusal';
  }
}

const BEIJING_MS = 8 * 3_600_000;

/** `YYYY-MM-DD HH:mm:ss` in Beijing time, the standards' time format. */
export function beijingTime(ms: number): string {
  return new Date(ms + BEIJING_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** Epoch ms of a Beijing `YYYY-MM-DD HH:mm:ss` (also with a `T`), or null. */
export function parseBeijingTime(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) - BEIJING_MS;
  return Number.isFinite(ms) &&
    beijingTime(ms) === `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}`
    ? ms
    : null;
}

/** A package id: `01`, the sender's EBRID, and a 16-digit sequence. */
export function makeEbdId(ebrId: string, sequence: bigint): string {
  return `01${ebrId}${(sequence % 10n ** 16n).toString().padStart(16, '0')}`;
}

/** The EBDB file: the envelope, then `bodyXml` (an element named after the type). */
export function ebdXml(h: EbdHeader, bodyXml: string): string {
  return (
    xmlDocument(
      el(
        'EBD',
        { 'xmlns:xs': 'http://www.w3.org/2001/XMLSchema' },
        el('EBDVersion', {}, EBD_VERSION),
        el('EBDID', {}, h.ebdId),
        el('EBDType', {}, h.type),
        el('SRC', {}, el('EBRID', {}, h.srcEbrId)),
        el('DEST', {}, el('EBRID', {}, h.destEbrId)),
        el('EBDTime', {}, h.time),
        h.relatedEbdId && el('RelatedEBD', {}, el('EBDID', {}, h.relatedEbdId)),
        // Written by this process (the reports module or this codec): used as is.
        raw(bodyXml),
      ),
    ) + '\n'
  );
}

/** The EBDS file: which package, which key, when, and the signature of the EBDB bytes. */
export function signatureXml(s: {
  ebdId: string;
  alg: SignatureAlgorithm;
  certSn: string;
  timeMs: number;
  value: string;
}): string {
  const names = ALGORITHM_NAMES[s.alg];
  return (
    xmlDocument(
      el(
        'Signature',
        {},
        el('Version', {}, EBD_VERSION),
        el('RelatedEBD', {}, el('EBDID', {}, s.ebdId)),
        el(
          'SignatureCert',
          {},
          el('CertType', {}, '1'),
          el('IssuerID', {}, 'dalaba'),
          el('CertSN', {}, s.certSn),
        ),
        el(
          'SignatureTime',
          {},
          Math.floor(s.timeMs / 1000)
            .toString(16)
            .padStart(8, '0'),
        ),
        el('DigestAlgorithm', {}, names.digest),
        el('SignatureAlgorithm', {}, names.signature),
        el('SignatureValue', {}, s.value),
      ),
    ) + '\n'
  );
}

/** Signs the EBDB and packs both files; the tar's own name is `EBDT_<EBDID>.tar`. */
export function buildPackage(
  header: EbdHeader,
  bodyXml: string,
  signer: EbdSigner,
  nowMs: number,
): { tar: Buffer; ebdb: string } {
  const ebdb = ebdXml(header, bodyXml);
  return { tar: packEbdb(header.ebdId, ebdb, signer, nowMs), ebdb };
}

/** Packs an EBDB already written (an outbox entry) with a signature made now. */
export function packEbdb(ebdId: string, ebdb: string, signer: EbdSigner, nowMs: number): Buffer {
  const bytes = Buffer.from(ebdb, 'utf8');
  const value = Buffer.from(signer.sign(bytes), 'base64url').toString('base64');
  const ebds = signatureXml({ ebdId, alg: signer.alg, certSn: signer.kid, timeMs: nowMs, value });
  return writeTar(
    [
      { name: `EBDB_${ebdId}.xml`, data: bytes },
      { name: `EBDS_EBDB_${ebdId}.xml`, data: Buffer.from(ebds, 'utf8') },
    ],
    nowMs,
  );
}

/**
 * A package without its signature file: the receipt of a refused inbound package (left unsigned
 * on purpose, docs/superior.md "Refused packages"), so a flood of forged packages never
 * costs a signature each.
 */
export function buildUnsignedPackage(header: EbdHeader, bodyXml: string, nowMs: number): Buffer {
  const ebdb = Buffer.from(ebdXml(header, bodyXml), 'utf8');
  return writeTar([{ name: `EBDB_${header.ebdId}.xml`, data: ebdb }], nowMs);
}

/** The tar's file name (multipart upload, Content-Disposition). */
export function packageFileName(ebdId: string): string {
  return `EBDT_${ebdId}.tar`;
}

/** Largest EBDB or EBDS file read (the audio of an EBM travels as its own file). */
const XML_MAX_BYTES = 1024 * 1024;

function parseXml(bytes: Buffer): Document {
  try {
    return parseXmlSafely(bytes, { maxBytes: XML_MAX_BYTES });
  } catch (err) {
    if (err instanceof CapRefusal)
      throw new PackageRefusal('failed', `${err.rule}: ${err.message}`);
    throw err;
  }
}

/** The element children of `parent` named `name` (EBD elements have no namespace). */
export function children(parent: Element, name: string): Element[] {
  return childElements(parent, name);
}

/** The trimmed text of the first child at `path` (steps joined by `/`), or null when empty. */
export function pathText(parent: Element, path: string): string | null {
  let at: Element | undefined = parent;
  for (const step of path.split('/')) {
    at = at && children(at, step)[0];
    if (!at) return null;
  }
  const text = at.textContent?.trim() ?? '';
  return text === '' ? null : text;
}

function required(parent: Element, path: string, what: string): string {
  const value = pathText(parent, path);
  if (value === null) throw new PackageRefusal('failed', `${what}: ${path} is missing`);
  return value;
}

const EBD_ID = /^\d{1,64}$/;

/** Largest EBDS (signature) file read: the real ones are well under 1 KB. */
export const EBDS_MAX_BYTES = 4096;

/**
 * A package opened but not read: its files found, only the small signature file parsed. The
 * EBDB is not parsed until {@link verifyOpened} has checked the signature over its raw bytes,
 * so a forged package costs a tar walk and a signature check, never an XML parse of the EBDB.
 */
export interface OpenedPackage {
  /** The EBDID in the EBDB file's name (digits checked). */
  ebdId: string;
  /** The EBDB file, exactly as received (the signature covers these bytes). */
  ebdb: Buffer;
  signature: EbdSignature | null;
  /** Why the signature file could not be read (too large, not a Signature), or null. */
  signatureProblem: string | null;
  attachments: TarFile[];
}

/** Opens a package: the tar, its EBDB file (unparsed) and its EBDS file (parsed, capped). */
export function openPackage(tar: Buffer): OpenedPackage {
  let files: TarFile[];
  try {
    files = readTar(tar);
  } catch (err) {
    throw new PackageRefusal('failed', (err as Error).message);
  }
  const ebdbs = files.filter((f) => /^EBDB_[0-9A-Za-z]+\.xml$/.test(f.name));
  if (ebdbs.length !== 1)
    throw new PackageRefusal('failed', `expected one EBDB_<EBDID>.xml, found ${ebdbs.length}`);
  const ebdbFile = ebdbs[0];
  const id = ebdbFile.name.slice(5, -4);
  if (!EBD_ID.test(id))
    throw new PackageRefusal(
      'failed',
      `EBDID must be digits, not ${JSON.stringify(id.slice(0, 64))}`,
    );
  const ebdsFile = files.find(
    (f) => f.name === `EBDS_EBDB_${id}.xml` || f.name === `EBDS_${id}.xml`,
  );
  let signature: EbdSignature | null = null;
  let signatureProblem: string | null = null;
  if (ebdsFile && ebdsFile.data.length > EBDS_MAX_BYTES) {
    signatureProblem = `the EBDS file is over ${EBDS_MAX_BYTES} bytes`;
  } else if (ebdsFile) {
    let s: Element | null;
    try {
      s = parseXmlSafely(ebdsFile.data, { maxBytes: EBDS_MAX_BYTES }).documentElement;
    } catch {
      s = null;
    }
    if (!s || s.localName !== 'Signature') {
      signatureProblem = 'the EBDS root is not Signature';
    } else {
      const algName = pathText(s, 'SignatureAlgorithm') ?? '';
      const alg =
        (Object.keys(ALGORITHM_NAMES) as SignatureAlgorithm[]).find(
          (a) => ALGORITHM_NAMES[a].signature.toLowerCase() === algName.toLowerCase(),
        ) ?? null;
      signature = {
        ebdId: pathText(s, 'RelatedEBD/EBDID') ?? '',
        alg,
        certSn: pathText(s, 'SignatureCert/CertSN') ?? '',
        value: pathText(s, 'SignatureValue') ?? '',
      };
    }
  }
  return {
    ebdId: id,
    ebdb: ebdbFile.data,
    signature,
    signatureProblem,
    attachments: files.filter((f) => f !== ebdbFile && f !== ebdsFile),
  };
}

/**
 * Null when the opened package's EBDB bytes are signed by `publicKey` with `alg`; otherwise why
 * not. Nothing of the EBDB is parsed.
 */
export function verifyOpened(
  o: OpenedPackage,
  alg: SignatureAlgorithm,
  publicKey: string,
): string | null {
  if (o.signatureProblem) return o.signatureProblem;
  const s = o.signature;
  if (!s) return 'no EBDS signature file';
  if (s.ebdId !== o.ebdId)
    return `the signature is for EBD ${JSON.stringify(s.ebdId.slice(0, 64))}`;
  if (s.alg !== alg) return `signed with ${s.alg ?? 'an unknown algorithm'}, ${alg} expected`;
  const raw = Buffer.from(s.value, 'base64');
  if (raw.length !== 64) return 'the signature value is not 64 bytes';
  return verifyBytes(alg, publicKey, o.ebdb, raw.toString('base64url'))
    ? null
    : 'the signature does not verify';
}

/** Reads the EBDB of an opened package: the envelope and the body element. */
export function readOpened(o: OpenedPackage): ParsedPackage {
  const root = parseXml(o.ebdb).documentElement;
  if (!root || root.localName !== 'EBD')
    throw new PackageRefusal('failed', 'the EBDB root is not EBD');
  const header: EbdHeader = {
    ebdId: required(root, 'EBDID', 'EBD'),
    type: required(root, 'EBDType', 'EBD'),
    srcEbrId: required(root, 'SRC/EBRID', 'EBD'),
    destEbrId: pathText(root, 'DEST/EBRID') ?? '',
    time: required(root, 'EBDTime', 'EBD'),
    relatedEbdId: pathText(root, 'RelatedEBD/EBDID'),
  };
  if (header.ebdId !== o.ebdId)
    throw new PackageRefusal(
      'failed',
      `EBDID ${JSON.stringify(header.ebdId.slice(0, 64))} differs from the file name's ${o.ebdId}`,
    );
  if (o.signatureProblem) throw new PackageRefusal('badSignature', o.signatureProblem);
  return {
    header,
    ebdb: o.ebdb,
    body: children(root, header.type)[0] ?? null,
    signature: o.signature,
    attachments: o.attachments,
  };
}

/**
 * Reads a package: the tar, its EBDB and EBDS files, the envelope. The signature is read, not
 * checked: {@link verifyPackage} does that with the sender's key. (The inbound route opens,
 * verifies, then reads: {@link openPackage}, {@link verifyOpened}, {@link readOpened}.)
 */
export function parsePackage(tar: Buffer): ParsedPackage {
  return readOpened(openPackage(tar));
}

/**
 * Null when the package is signed by `publicKey` with `alg`; otherwise why not. The signature is
 * over the EBDB file's bytes as they arrived.
 */
export function verifyPackage(
  p: ParsedPackage,
  alg: SignatureAlgorithm,
  publicKey: string,
): string | null {
  return verifyOpened(
    {
      ebdId: p.header.ebdId,
      ebdb: p.ebdb,
      signature: p.signature,
      signatureProblem: null,
      attachments: [],
    },
    alg,
    publicKey,
  );
}

/** The body of a receipt: `<EBDResponse>` with the result code and its words. */
export function responseXml(kind: ResultKind, detail?: string): string {
  const r = RESULT_CODES[kind];
  return el(
    'EBDResponse',
    {},
    el('ResultCode', {}, r.code),
    el('ResultDesc', {}, detail ? `${r.desc}: ${detail}` : r.desc),
  ).toString();
}

/** A ConnectionCheck body. */
export function heartbeatXml(nowMs: number): string {
  return el('ConnectionCheck', {}, el('RptTime', {}, beijingTime(nowMs))).toString();
}

/** The result of a receipt package. */
export function readResponse(p: ParsedPackage): { code: string; desc: string | null } {
  if (p.header.type !== EBD_TYPES.response || !p.body)
    throw new PackageRefusal('failed', `expected an EBDResponse, got ${p.header.type}`);
  return {
    code: required(p.body, 'ResultCode', 'EBDResponse'),
    desc: pathText(p.body, 'ResultDesc'),
  };
}
