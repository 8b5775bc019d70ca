/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) that the bench reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  /** Microseconds on the machine's monotonic clock (as `process.hrtime`). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Call stacks, root first, joined by `;`, with the samples taken in each. */
export type FoldedStacks = Map<string, number>;

/** A frame's label: function, then file and line, paths cut after node_modules/ or dist/. */
function label(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const url = frame.url.replace(/^file:\/\//, '');
  const dist = url.lastIndexOf('/dist/');
  const cut = Math.max(url.lastIndexOf('node_modules/'), dist < 0 ? -1 : dist + 1);
  const file = cut >= 0 ? url.slice(url.indexOf('/', cut) + 1) : url.split('/').slice(-2).join('/');
  return `${name} ${file}:${frame.lineNumber + 1}`.replace(/;/g, ',');
}

/**
 * The profile's samples folded by call stack, only those taken between
 * `fromUs` and `toUs` on the monotonic clock when given (a case's window,
 * leaving the process's boot out).
 */
export function foldStacks(profile: CpuProfile, window?: { fromUs: number; toUs: number }): FoldedStacks {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const paths = new Map<number, string>();
  const pathOf = (id: number): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node && node.callFrame.functionName !== '(root)') frames.push(label(node.callFrame));
    }
    const path = frames.reverse().join(';');
    paths.set(id, path);
    return path;
  };
  const folded: FoldedStacks = new Map();
  let time = profile.startTime;
  profile.samples.forEach((id, i) => {
    time += profile.timeDeltas[i] ?? 0;
    if (window && (time < window.fromUs || time > window.toUs)) return;
    const path = pathOf(id);
    if (path === '(idle)' || path === '(program)') return;
    folded.set(path, (folded.get(path) ?? 0) + 1);
  });
  return folded;
}

/** Functions by samples in which they were the running frame (self time), most first. */
export function selfTime(folded: FoldedStacks, top: number): Array<{ frame: string; samples: number; share: number }> {
  const self = new Map<string, number>();
  let total = 0;
  for (const [path, samples] of folded) {
    const leaf = path.slice(path.lastIndexOf(';') + 1);
    self.set(leaf, (self.get(leaf) ?? 0) + samples);
    total += samples;
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, samples]) => ({ frame, samples, share: samples / Math.max(1, total) }));
}
