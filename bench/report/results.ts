import type { CaseRecord } from '../case-context';
import type { BenchParams } from '../params';
import type { SideSpec } from '../side';
import type { Environment } from '../environment';
import type { HopResult } from '../hop/bare-hop';
import type { ProfileSummary } from '../profile/latency-profiles';

/** The raw JSON of one run (bench/results/<timestamp>.json), from which RESULTS.md and the plots are made. */
export interface BenchResults {
  /** File-name stamp of the run, also the prefix of its plots. */
  stamp: string;
  startedAt: string;
  finishedAt: string;
  params: BenchParams;
  environment: Environment;
  sides: SideSpec[];
  cases: CaseRecord[];
  /** The bare ZeroMQ hop measured in the same run (absent from runs before it was added). */
  hop?: HopResult[];
  /** CPU profiles of the latency cases (runs with --profile). */
  profiles?: ProfileSummary[];
}

/** The record of `caseName` on `side`, if it ran. */
export function recordOf(results: BenchResults, side: string, caseName: string): CaseRecord | undefined {
  return results.cases.find((record) => record.side === side && record.case === caseName);
}
