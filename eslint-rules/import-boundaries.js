// Import boundaries from STYLE.md, checked on relative import paths (no resolver needed):
// - src/contract/ (the device contract) imports nothing outside itself but packages;
// - src/ never imports devices/ (the device agent) or test/;
// - devices/ uses only the contract from src/, and never test/; its command line (devices/main.ts)
//   may also read the server's settings (src/config/), so the fleet finds what the server uses;
// - inside src/, folders are layered (LAYERS below): a folder imports folders of lower layers,
//   and within its own layer only the pairs SAME_LAYER names. The rule knows folders, not files,
//   so a new file in a folder needs no change here; a new folder must be given a layer.
import path from 'node:path';

/**
 * The feature order, lowest first. The app root is every file directly in src/ (app.module.ts,
 * main.ts, server.ts, http-app.ts, entities.ts) and src/cli/.
 * - mqtt is the transport only (broker, client, PUBACK); DeviceGateway, which gives its messages
 *   a meaning, lives in devices/ and imports it, so mqtt sits below devices.
 * - live/ (the SSE feed) reads broadcasts and devices, as coverage does; neither imports the other.
 * - alerts/ turns alerts into broadcasts or drafts; reports/ reads broadcasts and their alerts;
 *   superior/ sends reports up and hands EBMs from above to alerts/.
 */
export const LAYERS = [
  ['contract', 'config', 'common'],
  ['database'],
  ['auth', 'audit', 'health', 'metrics', 'signing', 'evidence'],
  ['villages'],
  ['staff'],
  ['mqtt'],
  ['devices'],
  ['clips'],
  ['tts'],
  ['broadcasts'],
  ['coverage', 'live'],
  ['status', 'schedules', 'seed'],
  ['approvals'],
  ['alerts'],
  ['reports'],
  ['superior'],
  ['(root)', 'cli'],
];

/**
 * Imports allowed between two folders of one layer, as `from → to`. Each is one the code makes
 * (common → contract: quiet hours hold by the contract's level), and together they form no cycle (contract < config < common; auth
 * below the other three; cli above the root files).
 */
export const SAME_LAYER = [
  'config → contract',
  'common → config',
  'common → contract',
  'audit → auth',
  'health → auth',
  'metrics → auth',
  'signing → auth',
  'cli → (root)',
];

const ORDER = LAYERS.map((layer) => layer.join(', '))
  .join(' < ')
  .replace('(root)', 'app root');
const LAYER_OF = new Map(LAYERS.flatMap((layer, i) => layer.map((name) => [name, i])));

/** @param {string} root @param {string} file */
function area(root, file) {
  const rel = path.relative(root, file).split(path.sep).join('/');
  if (rel.startsWith('src/contract/')) return 'contract';
  if (rel.startsWith('src/config/')) return 'config';
  if (rel.startsWith('src/')) return 'src';
  if (rel.startsWith('devices/')) return 'devices';
  if (rel.startsWith('test/')) return 'test';
  return 'other';
}

/** The layered folder of a file under src/: its first folder, or `(root)` for src/*.ts. */
function srcFolder(root, file) {
  const parts = path.relative(path.join(root, 'src'), file).split(path.sep);
  return parts.length === 1 ? '(root)' : parts[0];
}

/** `src/x/` for a folder, `src/` for the root files. */
function show(folder) {
  return folder === '(root)' ? 'src/ (app root)' : `src/${folder}/`;
}

/** Why `from` may not import `to` (both layered folders of src/), or null when it may. */
function layerProblem(from, to) {
  if (from === to) return null;
  const a = LAYER_OF.get(from);
  const b = LAYER_OF.get(to);
  for (const [name, layer] of [
    [from, a],
    [to, b],
  ]) {
    if (layer === undefined)
      return `${show(name)} has no layer; give it one in eslint-rules/import-boundaries.js (${ORDER})`;
  }
  if (b < a) return null;
  if (b > a)
    return `${show(from)} is below ${show(to)} and may not import it; the layers are ${ORDER}`;
  if (SAME_LAYER.includes(`${from} → ${to}`)) return null;
  return (
    `${show(from)} and ${show(to)} share a layer, and ${from} → ${to} is not an allowed ` +
    `same-layer import (${SAME_LAYER.join(', ')}); the layers are ${ORDER}`
  );
}

const RULES = {
  contract: {
    allowed: ['contract'],
    why: 'the contract folder imports nothing of the server or the agent',
  },
  config: { allowed: ['src', 'contract', 'config'], why: 'src/ never imports devices/ or test/' },
  src: { allowed: ['src', 'contract', 'config'], why: 'src/ never imports devices/ or test/' },
  devices: {
    allowed: ['devices', 'contract'],
    why: 'devices/ may use only src/contract/ from the server',
  },
};

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'Keep the contract, server, device agent and tests apart; layer src/' },
    schema: [],
    messages: { crossed: 'Import of {{target}} from {{from}}: {{why}}' },
  },
  create(context) {
    const root = context.cwd;
    const file = context.filename;
    const from = area(root, file);
    const base = RULES[from];
    if (!base) return {};
    const rel = path.relative(root, file).split(path.sep).join('/');
    const rule =
      rel === 'devices/main.ts' ? { ...base, allowed: [...base.allowed, 'config'] } : base;
    const layered = rel.startsWith('src/');
    /** @param {import('estree').Node | null | undefined} source */
    function check(source) {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const spec = source.value;
      if (!spec.startsWith('.')) return;
      const targetFile = path.resolve(path.dirname(file), spec);
      const target = area(root, targetFile);
      const shown = path.relative(root, targetFile);
      if (!rule.allowed.includes(target)) {
        context.report({
          node: source,
          messageId: 'crossed',
          data: { target: shown, from, why: rule.why },
        });
        return;
      }
      if (!layered || !path.relative(root, targetFile).startsWith(`src${path.sep}`)) return;
      const fromFolder = srcFolder(root, file);
      const why = layerProblem(fromFolder, srcFolder(root, targetFile));
      if (why)
        context.report({
          node: source,
          messageId: 'crossed',
          data: { target: shown, from: show(fromFolder), why },
        });
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};
