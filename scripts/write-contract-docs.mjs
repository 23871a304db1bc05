#!/usr/bin/env node
// Writes docs/schemas/*.json, the generated tables of docs/protocol.md and the dashboard's copy of
// the contract (web/lib/contract.js) from src/contract/.
// Run after changing the contract (npm run docs:contract); a test fails while they differ.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DASHBOARD_CONTRACT_FILE,
  renderDashboardContract,
} from '../dist/src/contract/dashboard.js';
import { renderProtocolDoc, schemaFiles } from '../dist/src/contract/docs.js';

const root = new URL('..', import.meta.url).pathname;
const schemaDir = join(root, 'docs/schemas');
await mkdir(schemaDir, { recursive: true });
const files = schemaFiles();
for (const name of await readdir(schemaDir)) if (!(name in files)) await rm(join(schemaDir, name));
for (const [name, text] of Object.entries(files)) await writeFile(join(schemaDir, name), text);
const docPath = join(root, 'docs/protocol.md');
await writeFile(docPath, renderProtocolDoc(await readFile(docPath, 'utf8')));
await writeFile(join(root, DASHBOARD_CONTRACT_FILE), renderDashboardContract());
console.log(
  `wrote ${Object.keys(files).length} schemas, the generated sections of docs/protocol.md and ${DASHBOARD_CONTRACT_FILE}`,
);
