#!/usr/bin/env node
// `npm run cost:table`: prints docs/cost.md's million-image table from the cost model; `-- --write` replaces the
// document's table (the marker comment and the table lines under it) in place.
import { readFileSync, writeFileSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const { costTable, replaceCostTable } = await import('../shared/cost-table.ts');
if (!process.argv.includes('--write')) {
  console.log(costTable().trimEnd());
} else {
  const path = new URL('../docs/cost.md', import.meta.url);
  writeFileSync(path, replaceCostTable(readFileSync(path, 'utf8'), costTable()));
  console.log('docs/cost.md: table rewritten from shared/cost-model.ts');
}
