import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyLike,
} from 'node:crypto';
import { SignedXml, type SignatureAlgorithm } from 'xml-crypto';
import { DSIG_NS } from './cap-schema.js';
import { childElement, childElements, descendants, parseXmlSafely, textOf } from './safe-xml.js';

/**
 * XML digital signatures on CAP alerts, as feeds sign them (CAP 1.2 §3.3.2.1: an enveloped
 * XML-DSig `Signature` as the last child of `alert`). xml-crypto checks the digests and the
 * signature value; around it we decide what a receiver may accept: one signature, one reference
 * covering the whole alert, only enveloped + canonicalisation transforms (no XPath/XSLT), a known
 * algorithm, and the signer's certificate equal to — or issued by — a certificate the station trusts.
 */

export type CapSignatureState = 'valid' | 'invalid' | 'unsigned' | 'untrusted';

export interface CapSignatureCheck {
  state: CapSignatureState;
  /** The signer certificate's CN (or whole subject), once the signature value checked out. */
  signer: string | null;
  reason: string | null;
}

export const XMLDSIG_ALGORITHMS = {
  rsaSha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  ecdsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  envelopedSignature: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
} as const;

const ACCEPTED_SIGNATURE_METHODS: readonly string[] = [
  XMLDSIG_ALGORITHMS.rsaSha1,
  XMLDSIG_ALGORITHMS.rsaSha256,
  XMLDSIG_ALGORITHMS.ecdsaSha256,
];
const ACCEPTED_CANONICALISATIONS: readonly string[] = [
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments',
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/2001/10/xml-exc-c14n#WithComments',
];
const ACCEPTED_TRANSFORMS: readonly string[] = [
  XMLDSIG_ALGORITHMS.envelopedSignature,
  ...ACCEPTED_CANONICALISATIONS,
];

/** A small RSA key can be factored; CAP feeds sign with 2048 bits or more. */
export const MIN_RSA_BITS = 2048;
/** ECDSA-SHA256 is specified with P-256 (RFC 6931 §2.3.6); other curves are refused. */
const ECDSA_CURVE = 'prime256v1';
/** Certificates KeyInfo may carry: the signer and its chain. */
const MAX_KEYINFO_CERTIFICATES = 8;
/** Certificates above the signer in KeyInfo that we follow towards a trusted one. */
const MAX_CHAIN = 4;

/**
 * ECDSA-SHA256 for xml-crypto, which ships RSA only. XML-DSig carries the value as r‖s
 * (IEEE P1363, RFC 4050), not DER, hence `dsaEncoding`.
 */
class EcdsaSha256 {
  getSignature(signedInfo: string | Buffer, privateKey: KeyLike): string {
    const key = createPrivateKey(privateKey as string | Buffer);
    return sign('sha256', Buffer.from(signedInfo), { key, dsaEncoding: 'ieee-p1363' }).toString(
      'base64',
    );
  }

  verifySignature(material: string, key: KeyLike, signatureValue: string): boolean {
    return verify(
      'sha256',
      Buffer.from(material),
      { key: createPublicKey(key as string | Buffer), dsaEncoding: 'ieee-p1363' },
      Buffer.from(signatureValue, 'base64'),
    );
  }

  getAlgorithmName(): string {
    return XMLDSIG_ALGORITHMS.ecdsaSha256;
  }
}

function withEcdsa(signed: SignedXml): SignedXml {
  signed.SignatureAlgorithms[XMLDSIG_ALGORITHMS.ecdsaSha256] =
    EcdsaSha256 as unknown as new () => SignatureAlgorithm;
  return signed;
}

const invalid = (reason: string, signer: string | null = null): CapSignatureCheck => ({
  state: 'invalid',
  signer,
  reason,
});

/**
 * Checks the enveloped signature of a CAP alert. `unsigned`: no signature at all; `invalid`: a
 * signature that does not check out or that we do not accept; `untrusted`: a correct signature by
 * a certificate the station does not trust (or outside its validity at `now`); `valid`: both.
 */
export function verifyCapSignature(
  xml: string,
  trustedPems: string[],
  o: { now?: number } = {},
): CapSignatureCheck {
  const now = o.now ?? Date.now();
  let doc: Document;
  try {
    doc = parseXmlSafely(xml, { maxBytes: Buffer.byteLength(xml, 'utf8') });
  } catch (error) {
    return invalid(`unreadable XML: ${(error as Error).message}`);
  }
  const root = doc.documentElement!;
  const signatures = descendants(root, 'Signature', DSIG_NS);
  if (signatures.length === 0) return { state: 'unsigned', signer: null, reason: null };
  if (signatures.length > 1)
    return invalid(`${signatures.length} signatures; exactly one is accepted`);
  const signature = signatures[0];
  if (signature.parentNode !== root)
    return invalid('the signature is not a child of <alert> (not enveloped)');

  const shape = checkSignatureShape(signature, root);
  if (shape) return invalid(shape);

  const certificateElements = descendants(signature, 'X509Certificate', DSIG_NS);
  // Each one may cost a signature check; a real chain is short.
  if (certificateElements.length > MAX_KEYINFO_CERTIFICATES) {
    return invalid(
      `${certificateElements.length} certificates in KeyInfo; at most ${MAX_KEYINFO_CERTIFICATES}`,
    );
  }
  let certificates: X509Certificate[];
  try {
    certificates = certificateElements.map(
      (el) => new X509Certificate(Buffer.from(textOf(el).replace(/\s+/g, ''), 'base64')),
    );
  } catch (error) {
    return invalid(`KeyInfo holds an unreadable certificate: ${(error as Error).message}`);
  }
  const trusted = readTrusted(trustedPems);
  // Without a certificate in KeyInfo the signer can only be one of the trusted ones.
  const candidates = certificates.length > 0 ? certificates : trusted;
  if (candidates.length === 0)
    return invalid('no X509Certificate in KeyInfo and no trusted certificate to try');

  const method = signatureMethodOf(signature);
  let lastReason = 'the signature value does not match';
  let signerCert: X509Certificate | null = null;
  for (const candidate of candidates) {
    const keyProblem = checkKey(candidate, method);
    if (keyProblem) {
      lastReason = keyProblem;
      continue;
    }
    const checker = withEcdsa(
      new SignedXml({ publicCert: candidate.toString(), getCertFromKeyInfo: () => null }),
    );
    try {
      checker.loadSignature(signature);
      if (checker.checkSignature(xml)) {
        signerCert = candidate;
        break;
      }
      lastReason = 'a digest does not match: the alert was changed after signing';
    } catch (error) {
      lastReason = firstLine((error as Error).message);
    }
  }
  if (!signerCert) return invalid(lastReason);

  const signer = commonName(signerCert);
  const trust = trustOf(signerCert, certificates, trusted, now);
  return trust === null
    ? { state: 'valid', signer, reason: null }
    : { state: 'untrusted', signer, reason: trust };
}

/** Null when the SignedInfo is one we accept; otherwise why not. */
function checkSignatureShape(signature: Element, root: Element): string | null {
  const signedInfos = childElements(signature, 'SignedInfo', DSIG_NS);
  if (signedInfos.length !== 1) return 'the signature needs exactly one SignedInfo';
  const signedInfo = signedInfos[0];
  const c14n =
    childElement(signedInfo, 'CanonicalizationMethod', DSIG_NS)?.getAttribute('Algorithm') ?? '';
  if (!ACCEPTED_CANONICALISATIONS.includes(c14n))
    return `canonicalisation ${c14n || '(none)'} is not accepted`;
  const method = signatureMethodOf(signature);
  if (!ACCEPTED_SIGNATURE_METHODS.includes(method))
    return `signature method ${method || '(none)'} is not accepted`;
  const references = childElements(signedInfo, 'Reference', DSIG_NS);
  if (references.length !== 1)
    return `${references.length} references; exactly one, covering the whole alert`;
  const reference = references[0];
  if (!reference.hasAttribute('URI'))
    return 'the reference has no URI; it must be "" or the alert\'s Id';
  const uri = reference.getAttribute('URI') ?? '';
  const rootId = root.getAttribute('Id');
  if (uri !== '' && !(rootId && uri === `#${rootId}`)) {
    return `the reference ${uri} does not cover the whole alert (URI="" or "#<alert Id>")`;
  }
  const transforms = childElements(
    childElement(reference, 'Transforms', DSIG_NS) ?? reference,
    'Transform',
    DSIG_NS,
  );
  const algorithms = transforms.map((t) => t.getAttribute('Algorithm') ?? '');
  const refused = algorithms.find((a) => !ACCEPTED_TRANSFORMS.includes(a));
  if (refused !== undefined) return `transform ${refused || '(none)'} is not accepted`;
  if (!algorithms.includes(XMLDSIG_ALGORITHMS.envelopedSignature))
    return 'the reference lacks the enveloped transform';
  return null;
}

function signatureMethodOf(signature: Element): string {
  const signedInfo = childElement(signature, 'SignedInfo', DSIG_NS);
  return (
    (signedInfo &&
      childElement(signedInfo, 'SignatureMethod', DSIG_NS)?.getAttribute('Algorithm')) ??
    ''
  );
}

function checkKey(cert: X509Certificate, method: string): string | null {
  const key = cert.publicKey;
  if (method === XMLDSIG_ALGORITHMS.ecdsaSha256) {
    if (key.asymmetricKeyType !== 'ec') return 'an ECDSA signature by a non-EC certificate';
    if (key.asymmetricKeyDetails?.namedCurve !== ECDSA_CURVE) {
      return `ECDSA curve ${key.asymmetricKeyDetails?.namedCurve} is not accepted (P-256 only)`;
    }
    return null;
  }
  if (key.asymmetricKeyType !== 'rsa') return 'an RSA signature by a non-RSA certificate';
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS)
    return `an RSA key of ${bits} bits is too small (at least ${MIN_RSA_BITS})`;
  return null;
}

function readTrusted(pems: string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    // A bad PEM is the configuration's problem (checked when it is stored), not the alert's.
    for (const block of pem.match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    ) ?? []) {
      try {
        out.push(new X509Certificate(block));
      } catch {
        continue;
      }
    }
  }
  return out;
}

/**
 * Null when `signer` is a trusted certificate, or is issued (through at most {@link MAX_CHAIN}
 * intermediates from KeyInfo) by one; otherwise why not. Every certificate on the way must be
 * valid at `now`.
 */
function trustOf(
  signer: X509Certificate,
  keyInfoCerts: X509Certificate[],
  trusted: X509Certificate[],
  now: number,
): string | null {
  if (trusted.length === 0) return 'no certificate is trusted for this sender';
  let current = signer;
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    const expired = outsideValidity(current, now);
    if (expired) return expired;
    if (trusted.some((t) => t.raw.equals(current.raw))) return null;
    const issuer = trusted.find((t) => issuedBy(current, t));
    if (issuer) return outsideValidity(issuer, now);
    const next = keyInfoCerts.find(
      (c) => c !== current && !c.raw.equals(current.raw) && issuedBy(current, c),
    );
    if (!next) break;
    current = next;
  }
  return `the signer ${commonName(signer)} is not trusted (neither a trusted certificate nor issued by one)`;
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    // Only a CA may vouch for another certificate: a sender's own certificate issues nothing.
    return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function outsideValidity(cert: X509Certificate, now: number): string | null {
  if (Date.parse(cert.validFrom) > now)
    return `certificate ${commonName(cert)} is not valid before ${cert.validFrom}`;
  if (Date.parse(cert.validTo) < now)
    return `certificate ${commonName(cert)} expired ${cert.validTo}`;
  return null;
}

function commonName(cert: X509Certificate): string {
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='));
  return cn ? cn.slice(3) : cert.subject.replace(/\n/g, ', ');
}

function firstLine(message: string): string {
  return message.split('\n')[0].slice(0, 200);
}

/**
 * Signs a CAP alert the way feeds do: enveloped, reference URI="" (the whole alert), exclusive
 * canonicalisation, SHA-256 digest, RSA-SHA256 or ECDSA-SHA256 by the key's type, the certificate
 * in KeyInfo/X509Data. For tests, fixtures and whoever publishes CAP.
 */
export function signCap(xml: string, o: { keyPem: string; certPem: string }): string {
  const type = createPrivateKey(o.keyPem).asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') throw new Error(`cannot sign CAP with a ${type} key`);
  // Fail here, not at the receiver, when the key does not belong to the certificate.
  const certKey = createPublicKey(o.certPem).export({ type: 'spki', format: 'der' });
  const ownKey = createPublicKey(o.keyPem).export({ type: 'spki', format: 'der' });
  if (!certKey.equals(ownKey)) throw new Error('the key does not belong to the certificate');
  const signer = withEcdsa(
    new SignedXml({
      privateKey: o.keyPem,
      publicCert: o.certPem,
      signatureAlgorithm:
        type === 'ec' ? XMLDSIG_ALGORITHMS.ecdsaSha256 : XMLDSIG_ALGORITHMS.rsaSha256,
      canonicalizationAlgorithm: XMLDSIG_ALGORITHMS.excC14n,
    }),
  );
  signer.addReference({
    xpath: '/*',
    transforms: [XMLDSIG_ALGORITHMS.envelopedSignature, XMLDSIG_ALGORITHMS.excC14n],
    digestAlgorithm: XMLDSIG_ALGORITHMS.sha256,
    uri: '',
    isEmptyUri: true,
  });
  signer.computeSignature(xml, { location: { reference: '/*', action: 'append' } });
  return signer.getSignedXml();
}
