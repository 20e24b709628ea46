/**
 * `predictions.csv`: one line per row of the run (a prediction or a rejection), RFC 4180 with CRLF line ends.
 * Built as a stream of text chunks so the writer never holds the whole file.
 */
import type { OutcomeRecord } from '../../shared/records.ts';

export const PREDICTIONS_CSV_COLUMNS = [
  'key',
  'bucket',
  'outcome',
  'text',
  'label',
  'confidence',
  'expected',
  'match',
  'reason',
  'message',
] as const;

/** Chunks of about this many characters go to the object store at a time. */
const CHUNK_CHARS = 64 * 1024;

// Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV Injection"): a key such as
// `=HYPERLINK(...)` must stay text. OWASP also lists tab and carriage return.
const FORMULA_START = /^[=+\-@\t\r]/;
// RFC 4180 section 2.6: fields holding a double quote, a comma or a line break are enclosed in double quotes.
const NEEDS_QUOTES = /[",\r\n]/;

/** One text cell: neutralised against formula injection, then quoted where RFC 4180 requires it. */
export function csvTextField(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function csvNumberField(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '' : String(value);
}

function csvBooleanField(value: boolean | undefined): string {
  return value === undefined ? '' : String(value);
}

/** The CSV line (with its CRLF) for one row. NO_TEXT rows leave text, label and confidence empty. */
export function predictionsCsvLine(row: OutcomeRecord): string {
  const empty = ['', ''];
  const cells =
    row.outcome === 'REJECTED'
      ? [
          csvTextField(row.key),
          csvTextField(row.bucket),
          row.outcome,
          '',
          '',
          '',
          '',
          '',
          row.reason,
          csvTextField(row.message),
        ]
      : [
          csvTextField(row.key),
          csvTextField(row.bucket),
          row.outcome,
          ...(row.outcome === 'PREDICTED'
            ? [csvTextField(row.text), csvTextField(row.label), csvNumberField(row.confidence)]
            : ['', '', '']),
          csvTextField(row.expected),
          csvBooleanField(row.match),
          ...empty,
        ];
  return `${cells.join(',')}\r\n`;
}

/**
 * The header and one line per row, in chunks. Rows are pulled from `rows` only as the consumer asks for chunks,
 * and `onRow` sees each row as it goes by, so one pass over the rows both writes the file and counts them.
 */
export async function* predictionsCsv(
  rows: AsyncIterable<OutcomeRecord>,
  onRow: (row: OutcomeRecord) => void = () => {},
): AsyncGenerator<string> {
  let chunk = `${PREDICTIONS_CSV_COLUMNS.join(',')}\r\n`;
  for await (const row of rows) {
    onRow(row);
    chunk += predictionsCsvLine(row);
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}
