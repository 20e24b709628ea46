import type { OutcomeRecord } from '../../../shared/records.ts';
import { predictionsCsv } from '../../../stages/report/predictions-csv.ts';
import { UsageError } from '../../run-backend/failures.ts';
import { type CommandSpec, intOption, stringOption } from '../command-line.ts';
import { renderTable } from '../output.ts';

const FORMATS = ['table', 'json', 'csv'] as const;
type Format = (typeof FORMATS)[number];

export const predictionsCommand: CommandSpec = {
  name: 'predictions',
  summary: "Read a run's predictions and rejections from the predictions table",
  usage: 'predictions RUN [--key PREFIX] [--search TEXT] [--format table|json|csv] [--limit N] [options]',
  description:
    'Rows come in key order, one per input object: PREDICTED with text/label and confidence, or REJECTED with a\n' +
    'reason. --search matches key, text, label, expected text, reason and message, ignoring case.',
  arguments: [['RUN', 'the run id']],
  options: {
    key: {
      type: 'string',
      value: 'PREFIX',
      description: 'only objects whose key starts with PREFIX (a whole key matches one)',
    },
    search: { type: 'string', value: 'TEXT', description: 'only rows containing TEXT' },
    format: {
      type: 'string',
      value: 'FORMAT',
      description: 'table (default), json, or csv (the columns of predictions.csv)',
    },
    limit: { type: 'string', value: 'N', description: 'at most N rows; 0 = all (default 100)' },
  },
  positionals: { min: 1, max: 1 },
  examples: [
    'nightshift predictions nightly-2026-11-23 --search stop',
    'nightshift predictions demo --local --key receipts/ --format csv --limit 0 > receipts.csv',
  ],
  async run(ctx, args) {
    const runId = args.positionals[0] as string;
    const formatArg = stringOption(args, 'format') ?? (ctx.global.json ? 'json' : 'table');
    if (!(FORMATS as readonly string[]).includes(formatArg)) {
      throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${formatArg}"`);
    }
    const format = formatArg as Format;
    const limit = intOption(args, 'limit', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 100 });
    const keyPrefix = stringOption(args, 'key');
    const search = stringOption(args, 'search')?.toLowerCase();
    const backend = await ctx.backend();
    const stored = await backend.predictions(runId, keyPrefix ? { keyPrefix } : {});
    const rows = matchingRows(stored, { limit, ...(search ? { search } : {}) });

    if (format === 'csv') {
      for await (const chunk of predictionsCsv(rows)) ctx.io.stdout(chunk);
      return 0;
    }
    if (format === 'json') {
      // Streamed as a JSON array, one row per line, so `--limit 0` over a million rows never sits in memory.
      let first = true;
      ctx.io.stdout('[');
      for await (const row of rows) {
        ctx.io.stdout(`${first ? '\n' : ',\n'}  ${JSON.stringify(row)}`);
        first = false;
      }
      ctx.io.stdout(first ? ']\n' : '\n]\n');
      return 0;
    }
    const table: string[][] = [];
    for await (const row of rows) table.push(tableRow(row));
    if (table.length === 0) {
      ctx.io.stdout(`no matching rows for run ${runId}\n`);
      return 0;
    }
    ctx.io.stdout(
      renderTable(
        [
          { header: 'KEY', maxWidth: 50 },
          { header: 'OUTCOME' },
          { header: 'TEXT / REASON', maxWidth: 60 },
          { header: 'CONF', align: 'right' },
          { header: 'EXPECTED', maxWidth: 30 },
        ],
        table,
        (column, padded, raw) =>
          column === 1 ? padded.replace(raw, raw === 'PREDICTED' ? ctx.paint.green(raw) : ctx.paint.red(raw)) : padded,
      ),
    );
    if (limit > 0 && table.length === limit) {
      ctx.io.stderr(`showing the first ${limit} rows; --limit 0 shows all, --format csv suits large runs\n`);
    }
    return 0;
  },
};

interface RowFilter {
  readonly limit: number;
  readonly search?: string;
}

/** The run's rows as they come, filtered, stopping at the limit. */
async function* matchingRows(rows: AsyncIterable<OutcomeRecord>, filter: RowFilter): AsyncGenerator<OutcomeRecord> {
  let emitted = 0;
  for await (const row of rows) {
    if (filter.search && !searchableText(row).includes(filter.search)) continue;
    yield row;
    emitted += 1;
    if (filter.limit > 0 && emitted >= filter.limit) return;
  }
}

function searchableText(row: OutcomeRecord): string {
  const parts =
    row.outcome === 'PREDICTED'
      ? [row.key, row.text, row.label, row.expected]
      : row.outcome === 'NO_TEXT'
        ? [row.key, row.expected]
        : [row.key, row.reason, row.message];
  return parts
    .filter((part) => part !== undefined)
    .join('\n')
    .toLowerCase();
}

function tableRow(row: OutcomeRecord): string[] {
  if (row.outcome === 'PREDICTED') {
    return [row.key, row.outcome, row.text ?? row.label ?? '', row.confidence.toFixed(3), row.expected ?? ''];
  }
  if (row.outcome === 'NO_TEXT') return [row.key, row.outcome, '', '', row.expected ?? ''];
  return [row.key, row.outcome, `${row.reason}: ${row.message}`, '', ''];
}
