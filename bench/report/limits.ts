/**
 * The analysis of missed targets lives in one place, README's Limits section
 * ("Measured costs": one sub-item per missed target, written from the last
 * full run); RESULTS.md carries a copy so that each run's report says why.
 * Returns those sub-items without their indentation, or undefined when
 * README has none.
 */
export function missedTargetsAnalysis(readme: string): string | undefined {
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => line.startsWith('- **Measured costs**'));
  if (start < 0) return undefined;
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break;
    items.push(line.slice(2));
  }
  return items.length > 0 ? items.join('\n') : undefined;
}
