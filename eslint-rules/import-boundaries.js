// Import boundaries from STYLE.md, checked on relative import paths (no resolver needed):
// - src/contract/ (the device contract) imports nothing outside itself but packages;
// - src/ never imports devices/ (the device agent) or test/;
// - devices/ uses only the contract from src/, and never test/; its command line (devices/main.ts)
//   may also read the server's settings (src/config/), so the fleet finds what the server uses.
import path from 'node:path';

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
    docs: { description: 'Keep the contract, server, device agent and tests apart' },
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
    /** @param {import('estree').Node | null | undefined} source */
    function check(source) {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const spec = source.value;
      if (!spec.startsWith('.')) return;
      const targetFile = path.resolve(path.dirname(file), spec);
      const target = area(root, targetFile);
      if (!rule.allowed.includes(target)) {
        context.report({
          node: source,
          messageId: 'crossed',
          data: { target: path.relative(root, targetFile), from, why: rule.why },
        });
      }
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};
