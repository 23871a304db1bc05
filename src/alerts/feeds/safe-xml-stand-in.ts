import { DOMParser, type Document } from '@xmldom/xmldom';
import { CapRefusal } from '../cap/cap-model.js';

// STAND-IN: safe-xml (piece A's parseXmlSafely in src/alerts/cap/safe-xml.ts replaces this file).
export function parseXmlSafely(input: Buffer | string, o: { maxBytes: number }): Document {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (Buffer.byteLength(text) > o.maxBytes) throw new CapRefusal('xml.too-large', 'too large');
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new CapRefusal('xml.doctype', 'DTD refused');
  try {
    return new DOMParser({
      onError: (level, msg) => {
        throw new CapRefusal('xml.malformed', `${level}: ${msg}`);
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    if (err instanceof CapRefusal) throw err;
    throw new CapRefusal('xml.malformed', (err as Error).message);
  }
}
