import { isLeaf, OPTION_SCHEMA, type Group } from './option-schema';

/**
 * README's configuration table, rendered from the schema: a unit test
 * checks that README holds exactly this text, and `npm run docs` writes it.
 */
export function renderOptionsTable(): string {
  const rows: string[] = ['| key | default | meaning |', '| --- | --- | --- |'];
  const walk = (path: string, group: Group): void => {
    for (const [key, node] of Object.entries(group)) {
      const name = path ? `${path}.${key}` : key;
      if (!isLeaf(node)) {
        walk(name, node);
        continue;
      }
      const shown = node.shownDefault ?? `\`${JSON.stringify(node.default)}\``;
      const aliases = node.aliases?.length ? ` (also accepted, deprecated: ${node.aliases.map((a) => `\`${a}\``).join(', ')})` : '';
      rows.push(`| \`${name}\` | ${shown} | ${node.doc}${aliases} |`);
    }
  };
  walk('', OPTION_SCHEMA);
  return rows.join('\n');
}

/** Markers around the generated table in README. */
export const TABLE_START = '<!-- options-table:start (generated from src/config/option-schema.ts by `npm run docs`) -->';
export const TABLE_END = '<!-- options-table:end -->';
