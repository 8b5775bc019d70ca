// Compiles src/, test/ and bench/ with tsc, then copies the assets tsc does
// not know about (Lua scripts) next to the compiled files that load them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// dist/ is not wiped first: running Kuzzle nodes load the plugin from it.
let failed = false;
try {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
} catch {
  // tsc still emitted JavaScript; copy the assets, then report the failure.
  failed = true;
}

function copyAssets(from, to) {
  if (!existsSync(from)) return;
  for (const entry of readdirSync(from)) {
    const source = join(from, entry);
    if (statSync(source).isDirectory()) copyAssets(source, join(to, entry));
    else if (entry.endsWith('.lua')) cpSync(source, join(to, entry));
  }
}
copyAssets(join(root, 'src'), join(root, 'dist/src'));
if (failed) process.exit(1);
