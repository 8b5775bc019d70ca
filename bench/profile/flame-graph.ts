import type { FoldedStacks } from './cpu-profile';

interface Frame {
  name: string;
  samples: number;
  children: Map<string, Frame>;
}

const WIDTH = 1200;
const ROW = 16;
const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** Colour by where the code lives, so the plugin's share stands out. */
function colour(name: string): string {
  if (/kuzzle-plugin-cluster|^[^ ]+ src\//.test(name)) return '#f28e2b';
  if (/zeromq/.test(name)) return '#4e79a7';
  if (/ioredis|redis-parser/.test(name)) return '#b07aa1';
  if (/kuzzle\//.test(name) || /koncorde/.test(name)) return '#e15759';
  if (/garbage collector/i.test(name)) return '#59a14f';
  return '#bab0ac';
}

function tree(folded: FoldedStacks): Frame {
  const root: Frame = { name: 'all', samples: 0, children: new Map() };
  for (const [path, samples] of folded) {
    root.samples += samples;
    let at = root;
    for (const name of path.split(';')) {
      let next = at.children.get(name);
      if (!next) {
        next = { name, samples: 0, children: new Map() };
        at.children.set(name, next);
      }
      next.samples += samples;
      at = next;
    }
  }
  return root;
}

/**
 * A flame graph (root at the bottom, width = share of the samples) as a
 * standalone SVG; hovering a frame shows its name and share. Frames
 * narrower than half a pixel are left out.
 */
export function flameGraph(title: string, folded: FoldedStacks): string {
  const root = tree(folded);
  const rects: Array<{ x: number; level: number; width: number; samples: number; name: string }> = [];
  let depth = 0;
  const visit = (frame: Frame, x: number, level: number): void => {
    const width = (frame.samples / Math.max(1, root.samples)) * WIDTH;
    if (width < 0.5) return;
    depth = Math.max(depth, level);
    rects.push({ x, level, width, samples: frame.samples, name: frame.name });
    let childX = x;
    for (const child of [...frame.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      visit(child, childX, level + 1);
      childX += (child.samples / Math.max(1, root.samples)) * WIDTH;
    }
  };
  visit(root, 0, 0);
  const height = (depth + 1) * ROW + 40;
  const body = rects.map(({ x, level, width, samples, name }) => {
    const y = height - 20 - (level + 1) * ROW;
    const share = ((samples / Math.max(1, root.samples)) * 100).toFixed(1);
    const text = width > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 12}">${esc(name.slice(0, Math.floor(width / 6.5)))}</text>` : '';
    return `<g><title>${esc(name)} (${samples} samples, ${share} %)</title><rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${ROW - 1}" fill="${colour(name)}" rx="2"/>${text}</g>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="monospace" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="4" y="14" font-weight="bold">${esc(title)} (${root.samples} samples; orange: plugin, red: Kuzzle and Koncorde, blue: zeromq, purple: ioredis, green: GC)</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}
