#!/usr/bin/env node
// `npm run cost:table`: prints docs/cost.md's million-image table from the cost model; `-- --write` replaces the
// document's table (the marker comment and the table lines under it) in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const { costTable } = await import('../shared/cost-table.ts');
const table = costTable().trimEnd();
if (!process.argv.includes('--write')) {
  console.log(table);
} else {
  const path = new URL('../docs/cost.md', import.meta.url);
  const lines = readFileSync(path, 'utf8').split('\n');
  const start = lines.findIndex((line) => line.startsWith('<!-- cost-table:'));
  if (start < 0) throw new Error('docs/cost.md has no "<!-- cost-table:" marker; put it above the table');
  let end = start + 1;
  while (end < lines.length && lines[end]?.startsWith('|')) end += 1;
  lines.splice(start, end - start, ...table.split('\n'));
  writeFileSync(path, lines.join('\n'));
  console.log('docs/cost.md: table rewritten from shared/cost-model.ts');
}
