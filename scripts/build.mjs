// Compiles src/, test/ and bench/ with tsc, copies the assets tsc does not
// know about (Lua scripts) next to the compiled files that load them, and
// prunes compiled files whose source is gone (a stale Lua script would be
// loaded, a stale test run, and both would ship).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
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

/** The source a compiled file comes from, or undefined for files the build does not own. */
function sourceOf(file) {
  for (const suffix of ['.d.ts.map', '.d.ts', '.js.map', '.js']) {
    if (file.endsWith(suffix)) return file.slice(0, -suffix.length) + '.ts';
  }
  return file.endsWith('.lua') ? file : undefined;
}

function prune(compiled, sources) {
  if (!existsSync(compiled)) return;
  for (const entry of readdirSync(compiled)) {
    const target = join(compiled, entry);
    if (statSync(target).isDirectory()) {
      prune(target, join(sources, entry));
      if (readdirSync(target).length === 0) rmSync(target, { recursive: true });
      continue;
    }
    const source = sourceOf(entry);
    if (source !== undefined && !existsSync(join(sources, source)) && !existsSync(join(sources, entry.replace(/\.js$/, '.mjs')))) {
      rmSync(target);
    }
  }
}

copyAssets(join(root, 'src'), join(root, 'dist/src'));
for (const dir of ['src', 'test', 'bench']) prune(join(root, 'dist', dir), join(root, dir));
if (failed) process.exit(1);
