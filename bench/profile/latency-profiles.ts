import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseRecord } from '../case-context';
import { foldStacks, selfTime, type CpuProfile } from './cpu-profile';
import { flameGraph } from './flame-graph';

/** What RESULTS.md shows of one node's profile over one latency case. */
export interface ProfileSummary {
  side: string;
  case: string;
  node: number;
  role: 'publisher' | 'subscriber' | 'publisher and subscriber';
  /** Flame graph file, in bench/results/. */
  svg: string;
  samples: number;
  top: Array<{ frame: string; samples: number; share: number }>;
}

/** `node --cpu-prof` arguments writing each node's profile to `dir` when it exits. */
export const profilingArgs = (dir: string): string => `--cpu-prof --cpu-prof-dir=${dir}`;

/**
 * Flame graphs of the latency cases from the profiles the side's nodes wrote
 * on exit (`CPU.<date>.<time>.<pid>.….cpuprofile`), cut to each case's
 * measured window: the publisher's node and the subscriber's.
 */
export function latencyProfiles(side: string, records: CaseRecord[], pids: number[], dir: string, resultsDir: string, stamp: string): ProfileSummary[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'));
  const summaries: ProfileSummary[] = [];
  for (const record of records) {
    const details = record.details as { profileWindow?: { fromUs: number; toUs: number }; publisherNode?: number; subscriberNode?: number } | undefined;
    if (!record.case.startsWith('latency-') || !details?.profileWindow) continue;
    const nodes = [...new Set([details.subscriberNode ?? 1, details.publisherNode ?? 1])];
    for (const node of nodes) {
      const file = files.find((name) => name.includes(`.${pids[node - 1] ?? -1}.`));
      if (!file) continue;
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      const folded = foldStacks(profile, details.profileWindow);
      const role = nodes.length === 1 ? 'publisher and subscriber' : node === details.publisherNode ? 'publisher' : 'subscriber';
      const svg = `${stamp}-profile-${side}-${record.case}-node${node}.svg`;
      writeFileSync(join(resultsDir, svg), flameGraph(`${side}, ${record.case}, node ${node} (${role}'s node)`, folded));
      const samples = [...folded.values()].reduce((sum, n) => sum + n, 0);
      summaries.push({ side, case: record.case, node, role, svg, samples, top: selfTime(folded, 12) });
    }
  }
  return summaries;
}
