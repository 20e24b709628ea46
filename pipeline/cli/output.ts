/** How the CLI writes for people: tables, durations, money, and colours only on a terminal. */
import type { CliIo } from './io.ts';

type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

const SGR: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/** Applies ANSI styles, or nothing when output is not a terminal or `NO_COLOR` is set (https://no-color.org). */
export type Painter = Readonly<Record<Style, (text: string) => string>>;

export function painter(io: Pick<CliIo, 'isTTY' | 'env'>): Painter {
  const enabled = io.isTTY && (io.env.NO_COLOR ?? '') === '';
  const style = (name: Style) => {
    const [on, off] = SGR[name];
    return (text: string) => (enabled ? `\u001b[${on}m${text}\u001b[${off}m` : text);
  };
  return {
    bold: style('bold'),
    dim: style('dim'),
    red: style('red'),
    green: style('green'),
    yellow: style('yellow'),
    cyan: style('cyan'),
  };
}

/** A run or execution status in its colour: green done, red failed, yellow still going. */
export function paintStatus(paint: Painter, status: string): string {
  if (status === 'SUCCEEDED' || status === 'Completed') return paint.green(status);
  if (['FAILED', 'TIMED_OUT', 'ABORTED', 'Failed', 'Stopped'].includes(status)) return paint.red(status);
  return paint.yellow(status);
}

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. @default 'left' */
  readonly align?: 'left' | 'right';
  /** Longer cells are cut with an ellipsis. @default no limit */
  readonly maxWidth?: number;
}

/**
 * A plain-text table: a header row and padded columns separated by two spaces. Widths are measured on the plain
 * text; `paint` styles a cell after padding so colour codes never skew the columns.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  paint?: (column: number, padded: string, raw: string) => string,
): string {
  const cut = rows.map((row) => columns.map((column, i) => truncate(row[i] ?? '', column.maxWidth)));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cut.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[], styleCell: (i: number, padded: string, raw: string) => string) =>
    cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        const padded = columns[i]?.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
        return styleCell(i, padded, cell);
      })
      .join('  ')
      .trimEnd();
  const header = line(
    columns.map((column) => column.header),
    (_i, padded) => padded,
  );
  const body = cut.map((row) => line(row, paint ?? ((_i, padded) => padded)));
  return `${[header, ...body].join('\n')}\n`;
}

function truncate(text: string, maxWidth: number | undefined): string {
  const flat = escapeControlCharacters(text);
  if (maxWidth === undefined || flat.length <= maxWidth) return flat;
  return `${flat.slice(0, Math.max(0, maxWidth - 1))}\u2026`;
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from the data (object keys, OCR text, messages) made safe to print in a terminal: C0 and C1 control
 * characters, DEL, and the bidirectional overrides and isolates that reorder what a reader sees (CVE-2021-42574,
 * "Trojan Source") are written as escapes (`\n`, `\x1b`, `\u202e`), so a key cannot move the cursor, recolour the
 * screen or pass for another key. Everything else, accents and CJK included, is left alone.
 */
export function escapeControlCharacters(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const control = code < 0x20 || (code >= 0x7f && code < 0xa0);
    const bidi =
      (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code === 0x200e || code === 0x200f;
    if (!control && !bidi) out += char;
    else
      out +=
        NAMED_ESCAPES[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  }
  return out;
}

/** `label  value` lines with the labels padded to one width. */
export function renderFields(fields: readonly (readonly [string, string])[], paint?: Painter): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length));
  return fields
    .map(([label, value]) => `${paint ? paint.dim(label.padEnd(width)) : label.padEnd(width)}  ${value}\n`)
    .join('');
}

/** `96.0% (48 of 50 with expected text read exactly)` */
export function formatAccuracy(accuracy: {
  readonly withExpected: number;
  readonly matches: number;
  readonly rate: number;
}): string {
  return `${(accuracy.rate * 100).toFixed(1)}% (${formatCount(accuracy.matches)} of ${formatCount(accuracy.withExpected)} with expected text read exactly)`;
}

/** 1,234,567 */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

export { formatUsd } from '../../shared/cost-model.ts';

/** `2026-11-23 02:00:04 UTC`, or the input unchanged when it is not a timestamp. */
export function formatTimestamp(iso: string | Date | undefined): string {
  if (iso === undefined) return '-';
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Pretty JSON and a newline: what every command prints with `--json`. */
export function writeJson(io: Pick<CliIo, 'stdout'>, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** One compact JSON object per line, for streams of events (`watch --json`). */
export function writeJsonLine(io: Pick<CliIo, 'stdout'>, value: unknown): void {
  io.stdout(`${JSON.stringify(value)}\n`);
}
