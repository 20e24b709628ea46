#!/usr/bin/env node
// `npm run cost:table`: prints docs/cost.md's million-image table from the cost model, to paste over the document's.
import { register } from 'tsx/esm/api';

register();
const { costTable } = await import('../shared/cost-table.ts');
console.log(costTable());
