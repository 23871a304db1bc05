/**
 * Renders the generated parts of the published contract: one JSON Schema file per message
 * (`docs/schemas/<type>.json`) and the tables inside `docs/protocol.md`. A test fails when the files
 * in the repository differ from what this renders; `npm run docs:contract` writes them.
 */
import { FAILURE_REASONS } from './failure-reasons.js';
import { LIMITS, MESSAGES, MessageType, PROTOCOL_VERSION, TIMING } from './messages.js';
import { DEFAULT_TOPIC_PREFIX, TOPIC_KINDS, TOPIC_RULES } from './topics.js';

type Schema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  title?: string;
};

/** `docs/schemas/<type>.json` for every message. */
export function schemaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [type, { schema }] of Object.entries(MESSAGES)) {
    const doc = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `https://dalaba.invalid/schemas/v${PROTOCOL_VERSION}/${type}.json`,
      ...JSON.parse(JSON.stringify(schema)),
    };
    files[`${type}.json`] = `${JSON.stringify(doc, null, 2)}\n`;
  }
  return files;
}

function typeOf(s: Schema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  if (s.type === 'object') return 'object';
  return s.type ?? 'any';
}

function limitsOf(s: Schema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined && s.maximum !== undefined) parts.push(`${s.minimum}–${s.maximum}`);
  else if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.minLength !== undefined || s.maxLength !== undefined)
    parts.push(`${s.minLength ?? 0}–${s.maxLength} chars`);
  if (s.minItems !== undefined || s.maxItems !== undefined)
    parts.push(`${s.minItems ?? 0}–${s.maxItems} items`);
  if (s.pattern) parts.push(`\`${s.pattern}\``);
  return parts.join(', ');
}

function fieldRows(schema: Schema, prefix = ''): string[] {
  const rows: string[] = [];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const required = schema.required?.includes(name) ? 'yes' : 'no';
    const desc = [prop.description, limitsOf(prop)].filter(Boolean).join('; ');
    rows.push(
      `| \`${prefix}${name}\` | ${typeOf(prop)} | ${required} | ${desc.replace(/\|/g, '\\|')} |`,
    );
    const nested = prop.type === 'object' ? prop : prop.anyOf?.find((a) => a.type === 'object');
    if (nested) rows.push(...fieldRows(nested, `${prefix}${name}.`));
  }
  return rows;
}

/** Each generated section of docs/protocol.md, by marker name. */
export function protocolSections(): Record<string, string> {
  const sections: Record<string, string> = {};
  sections.topics = [
    '| topic | direction | QoS | retained |',
    '|---|---|---|---|',
    ...TOPIC_KINDS.map((kind) => {
      const r = TOPIC_RULES[kind];
      return `| \`${DEFAULT_TOPIC_PREFIX}/d/{deviceId}/${kind}\` | ${r.direction === 'to-device' ? 'server → device' : 'device → server'} | ${r.qos} | ${r.retain ? 'yes' : 'no'} |`;
    }),
  ].join('\n');
  sections.timing = [
    '| rule | value |',
    '|---|---|',
    ...Object.entries({ ...TIMING, ...LIMITS }).map(([k, v]) => `| \`${k}\` | ${v} |`),
  ].join('\n');
  sections['failure-reasons'] = [
    '| code | the `reason` begins with | from | meaning | staff read |',
    '|---|---|---|---|---|',
    ...FAILURE_REASONS.map(
      (r) =>
        `| \`${r.code}\` | ${r.code === 'other' ? 'anything else' : [...new Set([r.code, ...r.begins])].map((b) => `\`${b}\``).join(', ')} | ${r.from} | ${r.meaning} | ${r.zh} |`,
    ),
  ].join('\n');
  for (const [type, { kind, schema }] of Object.entries(MESSAGES) as [
    MessageType,
    (typeof MESSAGES)[MessageType],
  ][]) {
    const s = schema as unknown as Schema;
    sections[`message:${type}`] = [
      `Topic: \`${kind}\`. ${s.description ?? ''}`.trim(),
      '',
      '| field | type | required | notes |',
      '|---|---|---|---|',
      ...fieldRows(s),
    ].join('\n');
  }
  return sections;
}

const BEGIN = (name: string) => `<!-- BEGIN GENERATED ${name} -->`;
const END = (name: string) => `<!-- END GENERATED ${name} -->`;

/** The document with every generated section replaced by what the code says now. */
export function renderProtocolDoc(current: string): string {
  let out = current;
  for (const [name, body] of Object.entries(protocolSections())) {
    const begin = BEGIN(name);
    const end = END(name);
    const start = out.indexOf(begin);
    const stop = out.indexOf(end);
    if (start < 0 || stop < start)
      throw new Error(`docs/protocol.md lacks the markers for the generated section "${name}"`);
    out = `${out.slice(0, start + begin.length)}\n\n${body}\n\n${out.slice(stop)}`;
  }
  return out;
}
