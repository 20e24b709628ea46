/**
 * A Distributed Map's `ItemReader` ("ItemReader (Map)", https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html):
 * - `arn:aws:states:::s3:listObjectsV2` with `Bucket` and `Prefix`: one item per object,
 *   `{Etag, Key, LastModified, Size, StorageClass}` with `LastModified` in epoch seconds, as the guide's example shows;
 * - `arn:aws:states:::s3:getObject` with `Bucket`, `Key` (and `VersionId`) and `ReaderConfig.InputType`:
 *   `JSON` (the object is one JSON array; its elements are the items), `JSONL` (one JSON value a line; blank lines
 *   are skipped) or `CSV` (one item per row, an object of the row's strings keyed by the column names, which come
 *   from the first row (`CSVHeaderLocation: FIRST_ROW`) or from `CSVHeaders` (`GIVEN`); RFC 4180 quoting).
 * `MaxItems` keeps the first N items (a CSV header row is not an item). Any failure to list, read or parse is
 * `States.ItemReaderFailed`.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { ItemReaderConfig } from './asl.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';

export interface ReadItemsRequest {
  readonly reader: ItemReaderConfig;
  /** The reader's Parameters, evaluated. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Undefined or 0: no limit. */
  readonly maxItems: number | undefined;
  readonly signal: AbortSignal;
}

const DELIMITERS = { COMMA: ',', PIPE: '|', SEMICOLON: ';', SPACE: ' ', TAB: '\t' } as const;

export async function readItems(s3: S3Client, request: ReadItemsRequest): Promise<unknown[]> {
  const { reader, parameters, signal } = request;
  const limit = request.maxItems === undefined || request.maxItems === 0 ? Number.POSITIVE_INFINITY : request.maxItems;
  const bucket = parameters.Bucket;
  if (typeof bucket !== 'string' || bucket === '') throw readerFailed('the ItemReader Parameters need a Bucket name');
  try {
    if (reader.action === 'listObjectsV2') {
      const prefix = parameters.Prefix;
      if (prefix !== undefined && typeof prefix !== 'string')
        throw readerFailed('the ItemReader Prefix must be a string');
      return await listObjects(s3, bucket, prefix, limit, signal);
    }
    const key = parameters.Key;
    if (typeof key !== 'string' || key === '') throw readerFailed('the ItemReader Parameters need a Key');
    const versionId = typeof parameters.VersionId === 'string' ? parameters.VersionId : undefined;
    const response = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      { abortSignal: signal },
    );
    const text = (await response.Body?.transformToString('utf-8')) ?? '';
    const where = `s3://${bucket}/${key}`;
    switch (reader.ReaderConfig.InputType) {
      case 'JSON':
        return parseJsonArray(text, where).slice(0, limit);
      case 'JSONL':
        return parseJsonLines(text, where, limit);
      case 'CSV':
        return parseCsvItems(text, where, reader.ReaderConfig, limit);
      default:
        throw readerFailed(`unsupported InputType ${reader.ReaderConfig.InputType}`);
    }
  } catch (error) {
    if (error instanceof StatesError) throw error;
    if (signal.aborted) throw signal.reason;
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    throw readerFailed(`S3 ${reader.action} on bucket ${bucket} failed: ${name}: ${message}`);
  }
}

function readerFailed(cause: string): StatesError {
  return new StatesError(StatesErrors.ItemReaderFailed, cause);
}

async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string | undefined,
  limit: number,
  signal: AbortSignal,
): Promise<unknown[]> {
  const items: unknown[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
      { abortSignal: signal },
    );
    for (const object of page.Contents ?? []) {
      if (items.length >= limit) return items;
      items.push({
        Etag: object.ETag,
        Key: object.Key,
        LastModified: object.LastModified ? Math.floor(object.LastModified.getTime() / 1000) : undefined,
        Size: object.Size,
        StorageClass: object.StorageClass ?? 'STANDARD',
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined && items.length < limit);
  return items;
}

function parseJsonArray(text: string, where: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw readerFailed(`${where} is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw readerFailed(`${where} must hold a JSON array for InputType JSON`);
  return value;
}

function parseJsonLines(text: string, where: string, limit: number): unknown[] {
  const items: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && items.length < limit; i += 1) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (error) {
      throw readerFailed(`line ${i + 1} of ${where} is not JSON: ${(error as Error).message}`);
    }
  }
  return items;
}

function parseCsvItems(
  text: string,
  where: string,
  config: ItemReaderConfig['ReaderConfig'],
  limit: number,
): unknown[] {
  const delimiter = DELIMITERS[config.CSVDelimiter ?? 'COMMA'];
  const rows = parseCsv(text, delimiter, where);
  let headers: readonly string[];
  let start = 0;
  if (config.CSVHeaderLocation === 'GIVEN') headers = config.CSVHeaders ?? [];
  else {
    const first = rows[0];
    if (first === undefined) throw readerFailed(`${where} has no header row`);
    headers = first.cells;
    start = 1;
  }
  const items: Record<string, string>[] = [];
  for (let r = start; r < rows.length && items.length < limit; r += 1) {
    const row = rows[r] as CsvRow;
    if (row.cells.length !== headers.length) {
      throw readerFailed(
        `line ${row.line} of ${where} has ${row.cells.length} fields, but there are ${headers.length} column headers`,
      );
    }
    const item: Record<string, string> = {};
    headers.forEach((header, i) => {
      item[header] = row.cells[i] as string;
    });
    items.push(item);
  }
  return items;
}

interface CsvRow {
  readonly line: number;
  readonly cells: string[];
}

/** RFC 4180: quoted fields may hold delimiters, line breaks and `""` for a quote; CRLF or LF ends a record. */
export function parseCsv(text: string, delimiter: string, where: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let rowHasContent = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 1;
        } else quoted = false;
      } else {
        if (c === '\n') line += 1;
        cell += c;
      }
      continue;
    }
    if (c === '"' && cell === '') {
      quoted = true;
      rowHasContent = true;
    } else if (c === delimiter) {
      cells.push(cell);
      cell = '';
      rowHasContent = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      if (rowHasContent || cell !== '') rows.push({ line: rowLine, cells: [...cells, cell] });
      cells = [];
      cell = '';
      rowHasContent = false;
      line += 1;
      rowLine = line;
    } else {
      cell += c;
      rowHasContent = true;
    }
  }
  if (quoted) throw readerFailed(`${where} ends inside a quoted field that starts on line ${rowLine}`);
  if (rowHasContent || cell !== '') rows.push({ line: rowLine, cells: [...cells, cell] });
  return rows;
}
