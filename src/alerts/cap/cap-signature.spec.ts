import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { SignedXml } from 'xml-crypto';
import { parseCap } from './cap-parse.js';
import { signCap, verifyCapSignature, XMLDSIG_ALGORITHMS } from './cap-signature.js';

const alertXml = readFileSync(
  fileURLToPath(new URL('../../../../test/fixtures/cap/actual-alert.xml', import.meta.url)),
  'utf8',
);

interface Pair {
  keyPem: string;
  certPem: string;
}

// Keys and certificates made by openssl for this run only: nothing secret is committed.
let dir: string;
const keys: Record<'rsa' | 'ec' | 'ca' | 'leaf' | 'sub' | 'rsa1024' | 'p384', Pair> = {} as never;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function selfSigned(name: keyof typeof keys, cn: string, keyArgs: string[]): void {
  openssl(
    'req',
    '-x509',
    '-nodes',
    '-days',
    '30',
    '-subj',
    `/CN=${cn}`,
    ...keyArgs,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  );
  keys[name] = {
    keyPem: readFileSync(join(dir, `${name}.key`), 'utf8'),
    certPem: readFileSync(join(dir, `${name}.crt`), 'utf8'),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cap-signature-'));
  selfSigned('rsa', 'Test RSA Sender', ['-newkey', 'rsa:2048']);
  selfSigned('ec', 'Test EC Sender', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  selfSigned('ca', 'Test Warning CA', [
    '-newkey',
    'rsa:2048',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  ]);
  selfSigned('rsa1024', 'Weak Sender', ['-newkey', 'rsa:1024']);
  selfSigned('p384', 'P-384 Sender', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  openssl(
    'req',
    '-new',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-subj',
    '/CN=County Weather Bureau',
    '-keyout',
    'leaf.key',
    '-out',
    'leaf.csr',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-out',
    'leaf.crt',
  );
  keys.leaf = {
    keyPem: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    certPem: readFileSync(join(dir, 'leaf.crt'), 'utf8'),
  };
  // A certificate "issued" by the leaf, which is no CA.
  openssl(
    'req',
    '-new',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-subj',
    '/CN=Sub of a Leaf',
    '-keyout',
    'sub.key',
    '-out',
    'sub.csr',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'sub.csr',
    '-CA',
    'leaf.crt',
    '-CAkey',
    'leaf.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-out',
    'sub.crt',
  );
  keys.sub = {
    keyPem: readFileSync(join(dir, 'sub.key'), 'utf8'),
    certPem: readFileSync(join(dir, 'sub.crt'), 'utf8'),
  };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pemBody = (pem: string): string => pem.replace(/-----[A-Z ]+-----|\s/g, '');
const now = Date.parse('2026-12-02T10:00:00+08:00');
const during = () => ({ now: Date.now() });

describe('signCap and verifyCapSignature', () => {
  it('an RSA-SHA256 signature by a trusted certificate is valid, and the alert still parses', () => {
    const signed = signCap(alertXml, keys.rsa);
    assert.match(
      signed,
      /<SignatureMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#rsa-sha256"\/>/,
    );
    assert.match(signed, /<Reference URI="">/);
    assert.deepEqual(verifyCapSignature(signed, [keys.rsa.certPem], during()), {
      state: 'valid',
      signer: 'Test RSA Sender',
      reason: null,
    });
    const { alert, doc } = parseCap(signed, { maxBytes: 1 << 20, now });
    assert.equal(alert.identifier, 'ZS-QX-20261202-001');
    assert.equal(doc.documentElement?.lastChild?.nodeName, 'Signature');
  });

  it('an ECDSA-SHA256 (P-256) signature is valid, its value r‖s of 64 bytes as XML-DSig wants', () => {
    const signed = signCap(alertXml, keys.ec);
    assert.match(signed, /xmldsig-more#ecdsa-sha256/);
    const value = /<SignatureValue>([^<]+)<\/SignatureValue>/.exec(signed)?.[1] ?? '';
    assert.equal(Buffer.from(value, 'base64').length, 64);
    assert.deepEqual(verifyCapSignature(signed, [keys.rsa.certPem, keys.ec.certPem], during()), {
      state: 'valid',
      signer: 'Test EC Sender',
      reason: null,
    });
    const changed = signed.replace('<severity>Severe</severity>', '<severity>Extreme</severity>');
    assert.equal(verifyCapSignature(changed, [keys.ec.certPem], during()).state, 'invalid');
  });

  it('a correct signature by a certificate nobody trusts is untrusted, naming the signer', () => {
    const signed = signCap(alertXml, keys.ec);
    assert.deepEqual(verifyCapSignature(signed, [keys.rsa.certPem], during()), {
      state: 'untrusted',
      signer: 'Test EC Sender',
      reason:
        'the signer Test EC Sender is not trusted (neither a trusted certificate nor issued by one)',
    });
    assert.equal(
      verifyCapSignature(signed, [], during()).reason,
      'no certificate is trusted for this sender',
    );
  });

  it('a certificate issued by a trusted CA is trusted; the CA untrusted, it is not', () => {
    const signed = signCap(alertXml, keys.leaf);
    assert.deepEqual(verifyCapSignature(signed, [keys.ca.certPem], during()), {
      state: 'valid',
      signer: 'County Weather Bureau',
      reason: null,
    });
    assert.equal(verifyCapSignature(signed, [keys.rsa.certPem], during()).state, 'untrusted');
    // A certificate the CA did not issue stays untrusted under it.
    const impostor = signCap(alertXml, keys.rsa);
    assert.equal(verifyCapSignature(impostor, [keys.ca.certPem], during()).state, 'untrusted');
  });

  it('follows intermediates given in KeyInfo, but only through CAs', () => {
    // The leaf's chain sent along: leaf, then its CA; the station trusts the CA.
    const withChain = signCap(alertXml, keys.leaf).replace(
      /<\/X509Certificate><\/X509Data>/,
      `</X509Certificate><X509Certificate>${pemBody(keys.ca.certPem)}</X509Certificate></X509Data>`,
    );
    assert.equal(verifyCapSignature(withChain, [keys.ca.certPem], during()).state, 'valid');
    // sub ← leaf (not a CA) ← trusted CA: the leaf may not vouch for anyone.
    assert.equal(new X509Certificate(keys.leaf.certPem).ca, false);
    const bySub = signCap(alertXml, keys.sub).replace(
      /<\/X509Certificate><\/X509Data>/,
      `</X509Certificate><X509Certificate>${pemBody(keys.leaf.certPem)}</X509Certificate></X509Data>`,
    );
    assert.deepEqual(verifyCapSignature(bySub, [keys.ca.certPem], during()), {
      state: 'untrusted',
      signer: 'Sub of a Leaf',
      reason:
        'the signer Sub of a Leaf is not trusted (neither a trusted certificate nor issued by one)',
    });
    assert.equal(verifyCapSignature(bySub, [keys.leaf.certPem], during()).state, 'untrusted');
    const cert = `<X509Certificate>${pemBody(keys.ca.certPem)}</X509Certificate>`;
    const tooMany = withChain.replace('</X509Data>', `${cert.repeat(7)}</X509Data>`);
    assert.equal(
      verifyCapSignature(tooMany, [keys.ca.certPem], during()).reason,
      '9 certificates in KeyInfo; at most 8',
    );
  });

  it('a trusted certificate outside its validity makes the signature untrusted', () => {
    const signed = signCap(alertXml, keys.rsa);
    const validTo = Date.parse(new X509Certificate(keys.rsa.certPem).validTo);
    const later = verifyCapSignature(signed, [keys.rsa.certPem], { now: validTo + 1000 });
    assert.equal(later.state, 'untrusted');
    assert.match(later.reason ?? '', /^certificate Test RSA Sender expired /);
    const validFrom = Date.parse(new X509Certificate(keys.rsa.certPem).validFrom);
    assert.match(
      verifyCapSignature(signed, [keys.rsa.certPem], { now: validFrom - 1000 }).reason ?? '',
      /not valid before/,
    );
  });

  it('any change to the signed alert, or to the signature value, makes it invalid', () => {
    const signed = signCap(alertXml, keys.rsa);
    assert.deepEqual(
      verifyCapSignature(signed.replace('暴雨橙色', '暴雨红色'), [keys.rsa.certPem], during()),
      {
        state: 'invalid',
        signer: null,
        reason: 'a digest does not match: the alert was changed after signing',
      },
    );
    assert.equal(
      verifyCapSignature(
        signed.replace('<status>Actual</status>', '<status>Exercise</status>'),
        [keys.rsa.certPem],
        during(),
      ).state,
      'invalid',
    );
    const value = /<SignatureValue>([^<]+)<\/SignatureValue>/.exec(signed)![1];
    const flipped = `${value.slice(0, 10)}${value[10] === 'A' ? 'B' : 'A'}${value.slice(11)}`;
    const check = verifyCapSignature(signed.replace(value, flipped), [keys.rsa.certPem], during());
    assert.equal(check.state, 'invalid');
    assert.match(check.reason ?? '', /signature value/);
  });

  it('an alert without signature is unsigned', () => {
    assert.deepEqual(verifyCapSignature(alertXml, [keys.rsa.certPem]), {
      state: 'unsigned',
      signer: null,
      reason: null,
    });
  });

  it('without a certificate in KeyInfo, the trusted certificates are tried', () => {
    const signed = signCap(alertXml, keys.ec).replace(/<KeyInfo>[\s\S]*<\/KeyInfo>/, '');
    assert.doesNotMatch(signed, /X509Certificate/);
    assert.equal(
      verifyCapSignature(signed, [keys.rsa.certPem, keys.ec.certPem], during()).state,
      'valid',
    );
    assert.equal(verifyCapSignature(signed, [keys.rsa.certPem], during()).state, 'invalid');
  });

  it('refuses a signature that covers only part of the alert', () => {
    const partial = new SignedXml({
      privateKey: keys.rsa.keyPem,
      publicCert: keys.rsa.certPem,
      signatureAlgorithm: XMLDSIG_ALGORITHMS.rsaSha256,
      canonicalizationAlgorithm: XMLDSIG_ALGORITHMS.excC14n,
    });
    partial.addReference({
      xpath: "//*[local-name(.)='info']",
      transforms: [XMLDSIG_ALGORITHMS.excC14n],
      digestAlgorithm: XMLDSIG_ALGORITHMS.sha256,
    });
    partial.computeSignature(alertXml, { location: { reference: '/*', action: 'append' } });
    const check = verifyCapSignature(partial.getSignedXml(), [keys.rsa.certPem], during());
    assert.equal(check.state, 'invalid');
    assert.match(check.reason ?? '', /^the reference #_0 does not cover the whole alert/);
  });

  it('accepts a reference to the alert by its Id, and RSA-SHA1 as older feeds sign', () => {
    const withId = alertXml.replace('<alert xmlns', '<alert Id="zs001" xmlns');
    const signer = new SignedXml({
      privateKey: keys.rsa.keyPem,
      publicCert: keys.rsa.certPem,
      signatureAlgorithm: XMLDSIG_ALGORITHMS.rsaSha1,
      canonicalizationAlgorithm: XMLDSIG_ALGORITHMS.excC14n,
    });
    signer.addReference({
      xpath: '/*',
      transforms: [XMLDSIG_ALGORITHMS.envelopedSignature, XMLDSIG_ALGORITHMS.excC14n],
      digestAlgorithm: 'http://www.w3.org/2000/09/xmldsig#sha1',
    });
    signer.computeSignature(withId, { location: { reference: '/*', action: 'append' } });
    const signed = signer.getSignedXml();
    assert.match(signed, /<Reference URI="#zs001">/);
    assert.equal(verifyCapSignature(signed, [keys.rsa.certPem], during()).state, 'valid');
  });

  it('refuses transforms other than enveloped and canonicalisation, and unknown methods', () => {
    const signed = signCap(alertXml, keys.rsa);
    const xpath = signed.replace(
      `<Transform Algorithm="${XMLDSIG_ALGORITHMS.excC14n}"/>`,
      '<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>',
    );
    assert.equal(
      verifyCapSignature(xpath, [keys.rsa.certPem], during()).reason,
      'transform http://www.w3.org/TR/1999/REC-xpath-19991116 is not accepted',
    );
    const hmac = signed.replace(
      XMLDSIG_ALGORITHMS.rsaSha256,
      'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
    );
    assert.equal(
      verifyCapSignature(hmac, [keys.rsa.certPem], during()).reason,
      'signature method http://www.w3.org/2000/09/xmldsig#hmac-sha1 is not accepted',
    );
  });

  it('refuses two signatures, and a signature that is not a child of alert', () => {
    const signed = signCap(alertXml, keys.rsa);
    const signature = /<Signature [\s\S]*<\/Signature>/.exec(signed)![0];
    const twice = signed.replace('</alert>', `${signature}</alert>`);
    assert.equal(
      verifyCapSignature(twice, [keys.rsa.certPem], during()).reason,
      '2 signatures; exactly one is accepted',
    );
    const nested = signed.replace(signature, '').replace('</info>', `${signature}</info>`);
    assert.equal(
      verifyCapSignature(nested, [keys.rsa.certPem], during()).reason,
      'the signature is not a child of <alert> (not enveloped)',
    );
  });

  it('refuses keys too weak: RSA under 2048 bits, ECDSA off P-256', () => {
    const weak = verifyCapSignature(
      signCap(alertXml, keys.rsa1024),
      [keys.rsa1024.certPem],
      during(),
    );
    assert.deepEqual(weak, {
      state: 'invalid',
      signer: null,
      reason: 'an RSA key of 1024 bits is too small (at least 2048)',
    });
    const p384 = verifyCapSignature(signCap(alertXml, keys.p384), [keys.p384.certPem], during());
    assert.equal(p384.reason, 'ECDSA curve secp384r1 is not accepted (P-256 only)');
  });

  it('reads XML only safely: a DOCTYPE makes the signature invalid before any parsing', () => {
    const signed = signCap(alertXml, keys.rsa).replace(
      '<alert',
      '<!DOCTYPE alert [<!ENTITY x "y">]><alert',
    );
    const check = verifyCapSignature(signed, [keys.rsa.certPem], during());
    assert.equal(check.state, 'invalid');
    assert.match(check.reason ?? '', /^unreadable XML: XML with a DOCTYPE is refused/);
  });

  it('will not sign with a key that does not belong to the certificate', () => {
    assert.throws(
      () => signCap(alertXml, { keyPem: keys.ec.keyPem, certPem: keys.rsa.certPem }),
      /does not belong/,
    );
  });
});
