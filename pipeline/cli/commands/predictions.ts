import { OUTCOMES, type OutcomeRecord } from '../../../shared/records.ts';
import { predictionsCsv } from '../../../stages/report/predictions-csv.ts';
import { UsageError } from '../../run-backend/failures.ts';
import { type CommandSpec, flag, intOption, stringOption } from '../command-line.ts';
import { renderTable } from '../output.ts';

const FORMATS = ['table', 'json', 'csv'] as const;
type Format = (typeof FORMATS)[number];

export const predictionsCommand: CommandSpec = {
  name: 'predictions',
  summary: "Read a run's predictions and rejections from the predictions table",
  usage:
    'predictions RUN [--key PREFIX] [--search TEXT] [--outcome O] [--mismatch] [--max-confidence C] ' +
    '[--format table|json|csv] [--limit N] [options]',
  description:
    'Rows come in key order, one per input object: PREDICTED with text/label and confidence, or REJECTED with a\n' +
    'reason. --search matches key, text, label, expected text, reason and message, ignoring case. The filters\n' +
    'combine: --mismatch --max-confidence 0.8 lists the wrong reads the model was unsure of.',
  arguments: [['RUN', 'the run id']],
  options: {
    key: {
      type: 'string',
      value: 'PREFIX',
      description: 'only objects whose key starts with PREFIX (a whole key matches one)',
    },
    search: { type: 'string', value: 'TEXT', description: 'only rows containing TEXT' },
    outcome: { type: 'string', value: 'OUTCOME', description: `only rows with this outcome: ${OUTCOMES.join(', ')}` },
    mismatch: {
      type: 'boolean',
      description:
        'only rows whose text differs from the expected text, NO_TEXT included (rows with expected text only)',
    },
    'max-confidence': {
      type: 'string',
      value: 'C',
      description: 'only predictions with confidence at most C (0 to 1)',
    },
    format: {
      type: 'string',
      value: 'FORMAT',
      description: 'table (default), json (the same as --json), or csv (the columns of predictions.csv)',
    },
    limit: { type: 'string', value: 'N', description: 'at most N rows; 0 = all (default 100)' },
  },
  positionals: { min: 1, max: 1 },
  examples: [
    'nightshift predictions latest --local --search stop',
    'nightshift predictions latest --local --mismatch',
    'nightshift predictions latest --local --outcome REJECTED --format csv --limit 0 > rejected.csv',
  ],
  async run(ctx, args) {
    const format = formatOf(stringOption(args, 'format'), ctx.global.json);
    const limit = intOption(args, 'limit', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 100 });
    const keyPrefix = stringOption(args, 'key');
    const search = stringOption(args, 'search')?.toLowerCase();
    const outcomeArg = stringOption(args, 'outcome')?.toUpperCase();
    if (outcomeArg !== undefined && !(OUTCOMES as readonly string[]).includes(outcomeArg)) {
      throw new UsageError(`--outcome must be one of ${OUTCOMES.join(', ')}, got "${stringOption(args, 'outcome')}"`);
    }
    const maxConfidenceArg = stringOption(args, 'max-confidence');
    const maxConfidence = maxConfidenceArg === undefined ? undefined : Number(maxConfidenceArg);
    if (maxConfidence !== undefined && !(maxConfidence >= 0 && maxConfidence <= 1)) {
      throw new UsageError(`--max-confidence must be a number from 0 to 1 such as 0.8, got "${maxConfidenceArg}"`);
    }
    const backend = await ctx.backend();
    const runId = await ctx.runId(backend, args.positionals[0] as string);
    const stored = await backend.predictions(runId, keyPrefix ? { keyPrefix } : {});
    const rows = matchingRows(stored, {
      limit,
      ...(search ? { search } : {}),
      ...(outcomeArg ? { outcome: outcomeArg as OutcomeRecord['outcome'] } : {}),
      mismatch: flag(args, 'mismatch'),
      ...(maxConfidence === undefined ? {} : { maxConfidence }),
    });

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

/**
 * `--format`, with `--json` as its shorthand: the two can only agree (`--json --format json`), never conflict.
 */
export function formatOf(formatArg: string | undefined, json: boolean): Format {
  if (formatArg !== undefined && !(FORMATS as readonly string[]).includes(formatArg)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${formatArg}"`);
  }
  if (json && formatArg !== undefined && formatArg !== 'json') {
    throw new UsageError(`--json and --format ${formatArg} ask for two formats: give one of them`);
  }
  return (formatArg ?? (json ? 'json' : 'table')) as Format;
}

interface RowFilter {
  readonly limit: number;
  readonly search?: string;
  readonly outcome?: OutcomeRecord['outcome'];
  readonly mismatch?: boolean;
  readonly maxConfidence?: number;
}

/** Whether a row passes every filter given (they combine with AND). */
function passes(row: OutcomeRecord, filter: RowFilter): boolean {
  if (filter.outcome && row.outcome !== filter.outcome) return false;
  if (filter.mismatch && !(row.outcome !== 'REJECTED' && row.match === false)) return false;
  if (filter.maxConfidence !== undefined && !(row.outcome === 'PREDICTED' && row.confidence <= filter.maxConfidence))
    return false;
  return !filter.search || searchableText(row).includes(filter.search);
}

/** The run's rows as they come, filtered, stopping at the limit. */
async function* matchingRows(rows: AsyncIterable<OutcomeRecord>, filter: RowFilter): AsyncGenerator<OutcomeRecord> {
  let emitted = 0;
  for await (const row of rows) {
    if (!passes(row, filter)) continue;
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
