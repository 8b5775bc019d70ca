// What the Node-versions and Kuzzle-versions tiers share: after each has
// prepared its setups (a Node runtime, a Kuzzle release), start one
// Elasticsearch for all of them, run the same functional test files once per
// setup with the usual runner, print a table and the "N passed, N failed"
// line CI reads, and exit with the result.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isAlive, lockHolder, testsLockOf } from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Rounded to the second first, so that 179.6 s reads 3m00s, not 2m60s.
export const minutes = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

/**
 * Takes the lock of a Kuzzle install in the shared cache, waiting while
 * another test run (another clone on this machine) holds it: the tests
 * link their own build of the plugin into its `plugins/enabled` and copy
 * test plugins there, so two runs at once would test each other's build.
 * The lock is a folder (made atomically) naming its holder's pid; a holder
 * that is gone leaves it to the next run. (Two runs finding the same dead
 * holder at the same instant could both take it over: it needs a run
 * killed while holding the lock and two others waiting, within the same
 * millisecond; a kernel lock would avoid it but outlive a killed tier in
 * its orphaned child.) Returns its release.
 */
export async function lockInstall(kuzzleRoot) {
  const lock = testsLockOf(join(kuzzleRoot, '..', '..'));
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    // No pid yet: its holder is writing it, or just released the lock.
    const holder = lockHolder(lock);
    let since = Date.now();
    try {
      since = statSync(lock).mtimeMs;
    } catch {
      // Just released.
    }
    const gone = holder > 0 ? !isAlive(holder) : Date.now() - since > 10_000;
    if (gone) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (!told) console.log(`waiting for another test run (pid ${holder || '?'}) using ${kuzzleRoot}`);
    told = true;
    await sleep(1000);
  }
}

/**
 * @param {object} tier
 * @param {string} tier.name            e.g. "node-versions" (names the Elasticsearch run folder)
 * @param {string[]} tier.order         setup keys in the order the table lists them
 * @param {Map<string, {prepareMs: number, env: Record<string, string>}>} tier.setups  setups ready to test
 * @param {Array<{version: string, prepareMs: number, testMs: number, pass: number, fail: number, note?: string}>} tier.results  rows already decided (failed or skipped setups)
 * @param {string} tier.files           TEST_ONLY for the functional runner
 * @param {(key: string) => string} tier.heading   the heading printed before a setup's tests
 * @param {(key: string) => string} tier.label     how a setup is named in its result line
 * @param {[string, string, number]} tier.columns  first column title and width, second column title
 * @param {number} tier.started         when the tier started (epoch ms)
 */
export async function runMatrix(tier) {
  const { results } = tier;
  let passed = results.reduce((sum, r) => sum + r.pass, 0);
  let failed = results.reduce((sum, r) => sum + r.fail, 0);

  let sharedEs;
  if (!process.env.KPC_ES_URL && tier.setups.size > 0) {
    const { startElasticsearch } = await import(join(root, 'dist/test/harness/elasticsearch.js'));
    const { newRunDir } = await import(join(root, 'dist/test/harness/run-dir.js'));
    try {
      sharedEs = await startElasticsearch(newRunDir(`${tier.name}-es`));
      process.env.KPC_ES_URL = sharedEs.url;
      console.log(`shared Elasticsearch on ${sharedEs.url}`);
    } catch (error) {
      console.log(`\nElasticsearch could not be started: ${error.message}`);
      console.log(`\n0 passed, ${failed + 1} failed`);
      process.exit(1);
    }
  }
  let child;
  let release;
  const stopAll = async () => {
    child?.kill('SIGTERM');
    release?.();
    if (sharedEs) await sharedEs.stop();
    sharedEs = undefined;
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => void stopAll().then(() => process.exit(130)));
  }

  for (const [key, setup] of tier.setups) {
    console.log(`\n##### ${tier.heading(key)}`);
    const started = Date.now();
    if (setup.env.KPC_KUZZLE_ROOT) release = await lockInstall(setup.env.KPC_KUZZLE_ROOT);
    const output = await new Promise((resolve) => {
      let text = '';
      child = spawn(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), 'functional'], {
        cwd: root,
        env: { ...process.env, ...setup.env, TEST_ONLY: tier.files },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        text += chunk.toString();
      });
      child.once('exit', (code) => resolve({ text, code }));
    });
    child = undefined;
    release?.();
    release = undefined;
    const testMs = Date.now() - started;
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(output.text.split('\n').reverse().join('\n'));
    const pass = summary ? Number(summary[1]) : 0;
    let fail = summary ? Number(summary[2]) : 1;
    if (output.code !== 0 && fail === 0) fail = 1;
    if (pass + fail === 0) fail = 1; // a setup that ran no test is a failure
    passed += pass;
    failed += fail;
    results.push({ version: key, prepareMs: setup.prepareMs, testMs, pass, fail });
    console.log(`${tier.label(key)}: ${pass} passed, ${fail} failed in ${minutes(testMs)}`);
  }

  await stopAll();
  results.sort((a, b) => tier.order.indexOf(a.version) - tier.order.indexOf(b.version));
  const [first, width, second] = tier.columns;
  console.log(`\n${first.padEnd(width)} ${second.padEnd(15)} tests      passed  failed`);
  for (const r of results) {
    console.log(
      `${r.version.padEnd(width)} ${minutes(r.prepareMs).padEnd(15)} ${minutes(r.testMs).padEnd(10)} ${String(r.pass).padEnd(7)} ${r.fail}${r.note ? `  (${r.note})` : ''}`,
    );
  }
  console.log(`tier time: ${minutes(Date.now() - tier.started)}`);
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
