import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { aclSetUser, pluginAclRules } from '../../src/state/redis-acl';
import { repoRoot } from '../harness/run-dir';

describe('the plugin\'s Redis ACL', () => {
  it('README shows exactly the generated rules, and the CLI prints them', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const block = /<!-- redis-acl:start[^>]*-->\s*```\s*\n\s*(.+)\n\s*```\s*<!-- redis-acl:end -->/.exec(readme);
    assert.ok(block, 'README has the generated ACL block');
    assert.equal(block[1]?.trim(), aclSetUser('kuzzle-cluster', 'kuzzle'));
    const printed = execFileSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'redis-acl', 'kuzzle-cluster', 'kuzzle']).toString().trim();
    assert.equal(printed, aclSetUser('kuzzle-cluster', 'kuzzle'));
  });

  it('only the cluster\'s keys, no channel, nothing but the listed commands', () => {
    const rules = pluginAclRules('prod');
    assert.ok(rules.includes('~kpc:prod:*'));
    assert.ok(rules.includes('resetkeys') && rules.includes('resetchannels') && rules.includes('-@all'));
    assert.equal(rules.filter((rule) => rule.startsWith('~')).length, 1);
    assert.ok(!rules.some((rule) => rule.startsWith('+@') || rule.startsWith('&') || rule === 'allkeys' || rule === '+flushall'));
  });
});
