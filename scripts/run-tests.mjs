// Runs the compiled test tiers named on the command line (unit, integration,
// functional, faults, redis) with node's test runner, one file at a time so that tests which
// start real services never compete for the machine's two cores, and ends
// with the plain "N passed, N failed" line CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tiers = process.argv.slice(2);
// Substring filter on file names; several, comma-separated, match any.
const only = process.env.TEST_ONLY ? process.env.TEST_ONLY.split(',').map((part) => part.trim()).filter(Boolean) : undefined;
const FILE_TIMEOUT_MS = 15 * 60_000;
let passed = 0;
let failed = 0;
const failures = [];
const tapFile = join(root, '.stack', 'last-test.tap');
mkdirSync(join(root, '.stack'), { recursive: true });

// Functional test files each start their own Redis, Kuzzle nodes and HAProxy
// but share one Elasticsearch (they use unique index names): it is the slowest
// service to start. Failing to start it fails the run, with its log.
let sharedEs;
/** Seconds each step took, printed before the final line (CI's budget is 90 minutes). */
const durations = [];
const seconds = (since) => Math.round((Date.now() - since) / 1000);
const STACK_TIERS = ['functional', 'faults', 'redis'];
const usesStack = tiers.some((tier) => STACK_TIERS.includes(tier));
if (usesStack && !process.env.KPC_ES_URL) {
  const { startElasticsearch } = await import(join(root, 'dist/test/harness/elasticsearch.js'));
  const { newRunDir } = await import(join(root, 'dist/test/harness/run-dir.js'));
  const esStarted = Date.now();
  try {
    sharedEs = await startElasticsearch(newRunDir('shared-es'));
    durations.push(['Elasticsearch start', seconds(esStarted)]);
    process.env.KPC_ES_URL = sharedEs.url;
    console.log(`shared Elasticsearch on ${sharedEs.url}`);
  } catch (error) {
    console.log(`\nElasticsearch could not be started: ${error.message}`);
    failed += 1;
    failures.push(`${STACK_TIERS.filter((tier) => tiers.includes(tier)).join(', ')} (Elasticsearch)`);
    for (const tier of STACK_TIERS) if (tiers.includes(tier)) tiers.splice(tiers.indexOf(tier), 1);
  }
}
const stopSharedEs = async () => {
  if (sharedEs) await sharedEs.stop();
  sharedEs = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void stopSharedEs().then(() => process.exit(130)));
}

for (const tier of tiers) {
  const dir = join(root, 'dist/test', tier);
  if (!existsSync(dir)) continue;
  const tierStarted = Date.now();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .filter((f) => !only || only.some((part) => f.includes(part)))
    .sort();
  for (const file of files) {
    console.log(`\n=== ${tier}/${file}`);
    rmSync(tapFile, { force: true }); // never count the previous file's report
    const result = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, join(dir, file)],
      // A hung file must not eat CI's whole budget; SIGTERM lets it stop its services.
      { stdio: 'inherit', env: process.env, timeout: FILE_TIMEOUT_MS, killSignal: 'SIGTERM' },
    );
    if (result.error) console.log(`\n${tier}/${file}: ${result.error.message}`);
    const counts = countTap(tapFile);
    passed += counts.pass;
    failed += counts.fail;
    if (result.status !== 0 && counts.fail === 0) {
      // A crash outside any test (e.g. a top-level error) still fails the run.
      failed += 1;
    }
    if (result.status !== 0) failures.push(`${tier}/${file}`);
  }
  durations.push([tier, seconds(tierStarted)]);
}

await stopSharedEs();
console.log(`\ndurations: ${durations.map(([what, s]) => `${what} ${s} s`).join(', ')}`);
if (failures.length > 0) console.log(`\nfailing files: ${failures.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

function countTap(file) {
  let pass = 0;
  let fail = 0;
  if (!existsSync(file)) return { pass, fail };
  // The TAP summary lines of the whole file: "# pass N" and "# fail N".
  const text = readFileSync(file, 'utf8');
  const p = /^# pass (\d+)$/m.exec(text);
  const f = /^# fail (\d+)$/m.exec(text);
  if (p) pass = Number(p[1]);
  if (f) fail = Number(f[1]);
  return { pass, fail };
}
