/**
 * docs/cost.md's million-image table, made from the cost model: `npm run cost:table` prints it, and
 * test/unit/cost-model.test.ts fails when the document's copy differs, so a changed default or measurement is one
 * paste away from the document.
 */
import { COST_ASSUMPTIONS, type CostEstimate, type CostInput, estimateCost, PRICES } from './cost-model.ts';
import { PreprocessSettingsSchema } from './execution-input.ts';
import { AGGREGATE_PARTS_PER_CHILD, STAGE_SIZING } from './stage-sizing.ts';
import { AGGREGATE_WRITES_IN_FLIGHT } from './tables.ts';

/** The line above the table in docs/cost.md; the table runs from it to the first line that is not a table row. */
export const COST_TABLE_MARKER =
  '<!-- cost-table: `npm run cost:table` prints this table from shared/cost-model.ts; a test compares them -->';

/** Where the table stands in a document's lines: its marker line, and the line after its last row. */
function tableLines(lines: readonly string[]): { readonly start: number; readonly end: number } | undefined {
  const start = lines.indexOf(COST_TABLE_MARKER);
  if (start < 0) return undefined;
  const end = lines.findIndex((line, index) => index > start && !line.startsWith('|'));
  return { start, end: end === -1 ? lines.length : end };
}

/** The table docs/cost.md holds (`doc` is its text), marker line included; undefined without the marker. */
export function documentedCostTable(doc: string): string | undefined {
  const lines = doc.split('\n');
  const at = tableLines(lines);
  return at && lines.slice(at.start, at.end).join('\n');
}

/** `doc` with its table replaced by `table` (marker line included); throws when `doc` has no marker line. */
export function replaceCostTable(doc: string, table: string): string {
  const lines = doc.split('\n');
  const at = tableLines(lines);
  if (!at) throw new Error(`docs/cost.md has no marker line; put ${COST_TABLE_MARKER} above the table`);
  lines.splice(at.start, at.end - at.start, ...table.trimEnd().split('\n'));
  return lines.join('\n');
}

/** Images of the documented run. */
export const DOCUMENTED_IMAGES = 1_000_000;
/** ASSUMED GPU throughput of the documented run: images per second on one ml.g5.xlarge (not measured yet). */
export const DOCUMENTED_IMAGES_PER_SECOND = 20;

/** The documented run: a million images at the execution input's defaults, on one ml.g5.xlarge. */
export function documentedRun(): CostInput {
  const defaults = PreprocessSettingsSchema.parse({});
  return {
    items: DOCUMENTED_IMAGES,
    batchSize: defaults.batchSize,
    downloadConcurrency: defaults.downloadConcurrency,
    transform: {
      seconds: DOCUMENTED_IMAGES / DOCUMENTED_IMAGES_PER_SECOND,
      instanceType: 'ml.g5.xlarge',
      instanceCount: 1,
    },
  };
}

/** Where each line's figures come from, by the line's item. */
function sources(): Readonly<Record<string, string>> {
  const a = COST_ASSUMPTIONS;
  const ms = (seconds: number) => `${Math.round(seconds * 1000)} ms`;
  return {
    'Batch Transform': `**assumed** ${DOCUMENTED_IMAGES_PER_SECOND} images/s`,
    'Lambda preprocess':
      `CPU **measured** (\`bench:preprocess\`, ${ms(a.preprocessCpuSecondsPerImage)} per image, "Preprocess time") ` +
      `over the vCPUs of ${STAGE_SIZING.preprocess.memoryMb} MB (${a.lambdaMbPerVcpu} MB a vCPU); S3 waits ` +
      `**assumed** ${ms(a.s3RequestSeconds)} each: download waves of \`--download-concurrency\`, then the thumbnail ` +
      'pack, the index and the part',
    'Lambda aggregate':
      `CPU **measured** (\`bench:aggregate\`, ${ms(a.aggregateCpuSecondsPerRow * 50)} per 50-row part) over the ` +
      `vCPUs of ${STAGE_SIZING.aggregate.memoryMb} MB; waits **assumed** ${ms(a.s3RequestSeconds)} each: the two ` +
      `reads together, then a wave of ${AGGREGATE_WRITES_IN_FLIGHT} BatchWriteItem calls per 100 rows; ` +
      `${AGGREGATE_PARTS_PER_CHILD} parts a call (the Aggregate map's \`ItemBatcher\`)`,
    'Lambda plan and report': `**assumed** ${a.planSecondsPer1000Items} s and ${a.reportSecondsPer1000Items} s per 1,000 items`,
    'Map Run child starts':
      'one transition per child ([Transitions](https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html))',
    'Express children':
      `each child billed for the Lambda call it wraps, rounded up to 100 ms, at 64 MB; $${PRICES.expressPerRequest * 1e6} ` +
      'per million requests ([Step Functions pricing](https://aws.amazon.com/step-functions/pricing/))',
    'Standard parent': '12 + 4 per 100,000-item plan part (the state machine)',
    'DynamoDB writes': "**measured** row size (`dynamoItemBytes` of the demo's prediction rows); 1 WRU per KB",
    'DynamoDB report read': 'the report reads every row once, eventually consistent: half an RRU per 4 KB (code)',
    'S3 GET requests':
      'one per input object; per batch, Batch Transform reads the part and aggregate the index and the `.out` (code)',
    'S3 PUT and LIST requests':
      'per part the thumbnail pack, index, part and `.out`; per run the plan parts, 3 report files, DeleteObjects ' +
      'and the LISTs of the dataset, transform output and transform input (code, `S3_REQUESTS`)',
    'S3 storage':
      `**measured** sizes on the photos: ${a.keptBytesPerImage / 1000} KB kept per image (thumbnail in its pack, ` +
      `output, index); the ${a.transformInputBytesPerImage / 1000} KB transform input lines only until the report ` +
      'deletes them ([S3 pricing](https://aws.amazon.com/s3/pricing/), per GB-month)',
    'CloudWatch Logs': `**assumed** ${a.logBytesPerInvocation / 1000} KB per Lambda call`,
  };
}

/** The table as docs/cost.md holds it: the marker, the header, one row per cost line, then the totals. */
export function costTable(estimate: CostEstimate = estimateCost(documentedRun())): string {
  const dollars = (usd: number) => `$${usd.toFixed(2)}`;
  const from = sources();
  const rows = estimate.lines.map(
    (line) => `| ${line.item} | ${line.detail} | ${from[line.item] ?? ''} | ${dollars(line.usd)} |`,
  );
  return [
    COST_TABLE_MARKER,
    '| line | arithmetic | source | cost |',
    '| --- | --- | --- | --- |',
    ...rows,
    `| **everything but the GPU** | | | **${dollars(estimate.otherUsd)}** |`,
    `| **orchestration** (Step Functions + Lambda) | | | **${dollars(estimate.orchestrationUsd)}** |`,
    `| **total** | | | **${dollars(estimate.totalUsd)}** |`,
  ].join('\n');
}
