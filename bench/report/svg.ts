/** Hand-written SVG charts (no plotting dependency): grouped bars and lines. */

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
const W = 720;
const H = 360;
const M = { left: 64, right: 16, top: 40, bottom: 64 };

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (value: number): string => (value >= 100 ? String(Math.round(value)) : String(Math.round(value * 10) / 10));

function frame(title: string, yLabel: string, yMax: number, body: string[], legend: string[]): string {
  const plotH = H - M.top - M.bottom;
  const ticks = Array.from({ length: 5 }, (_, i) => (yMax * i) / 4);
  const grid = ticks.map((tick) => {
    const y = M.top + plotH - (tick / yMax) * plotH;
    return `<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${fmt(tick)}</text>`;
  });
  // Each key as wide as its text (about 7 px a character at 12 px).
  let x = M.left;
  const keys = legend.map((name, i) => {
    const key = `<rect x="${x}" y="12" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 18}" y="22">${esc(name)}</text>`;
    x += 18 + name.length * 7 + 24;
    return key;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    `<text transform="translate(14 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...grid,
    ...keys,
    ...body,
    '</svg>',
  ].join('\n');
}

const niceMax = (values: number[]): number => {
  const max = Math.max(1e-9, ...values.filter((v) => Number.isFinite(v)));
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / step) * step;
};

/** Bars: one group per label, one bar per series (missing values left out). */
export function barChart(title: string, yLabel: string, groups: string[], series: Array<{ name: string; values: Array<number | undefined> }>): string {
  const yMax = niceMax(series.flatMap((s) => s.values.filter((v): v is number => v !== undefined)));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const groupW = plotW / Math.max(1, groups.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const body: string[] = [];
  groups.forEach((group, g) => {
    body.push(`<text x="${M.left + groupW * (g + 0.5)}" y="${M.top + plotH + 16}" text-anchor="middle">${esc(group)}</text>`);
    series.forEach((s, i) => {
      const value = s.values[g];
      if (value === undefined || !Number.isFinite(value)) return;
      const h = (value / yMax) * plotH;
      const x = M.left + groupW * g + groupW * 0.1 + barW * i;
      body.push(`<rect x="${x}" y="${M.top + plotH - h}" width="${barW - 2}" height="${h}" fill="${COLORS[i % COLORS.length]}"><title>${esc(s.name)} ${fmt(value)}</title></rect>`);
      body.push(`<text x="${x + barW / 2}" y="${M.top + plotH - h - 3}" text-anchor="middle" font-size="10">${fmt(value)}</text>`);
    });
  });
  return frame(title, yLabel, yMax, body, series.map((s) => s.name));
}

/** Lines with points, x numeric. */
export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Array<{ name: string; points: Array<[number, number]> }>,
  guide?: { value: number; label: string },
): string {
  const all = series.flatMap((s) => s.points);
  const xMax = niceMax(all.map(([x]) => x));
  const yMax = niceMax([...all.map(([, y]) => y), ...(guide ? [guide.value] : [])]);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const at = ([x, y]: [number, number]): string => `${M.left + (x / xMax) * plotW},${M.top + plotH - (y / yMax) * plotH}`;
  const body: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const x = (xMax * i) / 4;
    body.push(`<text x="${M.left + (x / xMax) * plotW}" y="${M.top + plotH + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  body.push(`<text x="${M.left + plotW / 2}" y="${M.top + plotH + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
  if (guide) {
    const y = M.top + plotH - (guide.value / yMax) * plotH;
    body.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${y}" y2="${y}" stroke="#e15759" stroke-dasharray="6 4"/>`);
    body.push(`<text x="${M.left + plotW - 4}" y="${y - 4}" text-anchor="end" fill="#e15759">${esc(guide.label)}</text>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    body.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(at).join(' ')}"/>`);
    for (const point of points) {
      const [cx, cy] = at(point).split(',');
      body.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${esc(s.name)} ${fmt(point[0])}: ${fmt(point[1])}</title></circle>`);
    }
  });
  return frame(title, yLabel, yMax, body, series.map((s) => s.name));
}
