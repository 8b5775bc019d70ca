// Rewrites README's configuration table from the option schema (the one
// source of truth); a unit test fails when README and schema differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderOptionsTable, TABLE_START, TABLE_END } = await import(join(root, 'dist/src/config/options-table.js'));
const file = join(root, 'README.md');
const readme = readFileSync(file, 'utf8');
const start = readme.indexOf(TABLE_START);
const end = readme.indexOf(TABLE_END);
if (start < 0 || end < start) {
  console.error(`README.md needs the markers:\n${TABLE_START}\n${TABLE_END}`);
  process.exit(1);
}
writeFileSync(file, `${readme.slice(0, start + TABLE_START.length)}\n${renderOptionsTable()}\n${readme.slice(end)}`);
console.log('README.md: options table updated');
