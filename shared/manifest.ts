import { type JSONPath, type ParseError, parseTree, printParseErrorCode, visit } from 'jsonc-parser';
import { z } from 'zod';
import { ManifestError } from './errors.ts';
import type { ObjectStore } from './ports.ts';
import type { RejectedItem } from './records.ts';
import { formatS3Uri, isInside, parseS3Uri, type S3Location } from './s3-location.ts';

/** One object a manifest names, with its 1-based line in the manifest. */
export interface ManifestObject {
  readonly line: number;
  /** Index of the JSON array element, for a SageMaker ManifestFile (several entries may share a line). */
  readonly entry?: number;
  readonly bucket: string;
  readonly key: string;
  readonly expected?: string;
}

/** What reading a manifest yields, entry by entry: an object to process or a rejected line. */
export type ManifestEntry =
  | { readonly kind: 'object'; readonly object: ManifestObject }
  | { readonly kind: 'rejected'; readonly rejection: RejectedItem };

export interface ManifestReadOptions {
  /** Locations every named object must lie in (bucket + key prefix). */
  readonly allowed: readonly S3Location[];
}

const JsonlLineSchema = z.strictObject({
  /** An object key in the manifest's bucket, or a full `s3://bucket/key` URI. */
  key: z.string().min(1),
  /** Ground truth (for OCR: the text) to score the prediction against. */
  expected: z.string().optional(),
});

/**
 * Reads a manifest in either accepted format and yields its entries in order.
 *
 * - SageMaker ManifestFile (`.json`/`.manifest`): `[{"prefix": "s3://b/p/"}, "rel/key.jpg", ...]`, see
 *   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html. Parsed whole: the format is one
 *   JSON document, so it cannot be streamed with `JSON.parse`.
 * - JSON Lines (`.jsonl`): `{"key": "...", "expected": "..."}` per line, streamed.
 *
 * A line naming an object outside every allowed location is rejected (OUTSIDE_DATASET) with its line number; a line
 * that cannot be read is rejected (MALFORMED_MANIFEST_LINE). A manifest that is not the format at all throws
 * ManifestError naming the manifest and the position.
 */
export async function* readManifest(
  objects: ObjectStore,
  format: 'manifest-file' | 'jsonl',
  manifest: S3Location,
  options: ManifestReadOptions,
): AsyncIterable<ManifestEntry> {
  if (format === 'jsonl') {
    yield* readJsonlManifest(objects, manifest, options);
  } else {
    yield* readManifestFile(objects, manifest, options);
  }
}

/**
 * S3 object keys are at most 1,024 bytes of UTF-8, prefix included
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
 */
export const MAX_KEY_BYTES = 1024;

/**
 * The row key of a rejection that names no usable object: `<manifest key>#L<line>` for a JSONL line, and
 * `<manifest key>#L<line>E<entry>` for a ManifestFile element, whose entries may all sit on one line.
 */
export function manifestEntryKey(manifest: S3Location, line: number, entry?: number): string {
  return `${manifest.key}#L${line}${entry === undefined ? '' : `E${entry}`}`;
}

/** "line 3" or "line 1 entry 7", as rejection messages name a manifest position. */
export function manifestPosition(line: number, entry?: number): string {
  return `line ${line}${entry === undefined ? '' : ` entry ${entry}`}`;
}

function lineRejection(
  manifest: S3Location,
  line: number,
  reason: 'OUTSIDE_DATASET' | 'MALFORMED_MANIFEST_LINE' | 'INVALID_KEY',
  message: string,
  entry?: number,
): ManifestEntry {
  return {
    kind: 'rejected',
    rejection: {
      key: manifestEntryKey(manifest, line, entry),
      bucket: manifest.bucket,
      reason,
      message: `${formatS3Uri(manifest)} ${manifestPosition(line, entry)}: ${message}`,
      stage: 'plan',
      line,
    },
  };
}

function checkScope(
  manifest: S3Location,
  line: number,
  target: S3Location,
  options: ManifestReadOptions,
  expected?: string,
  entry?: number,
): ManifestEntry {
  const keyBytes = Buffer.byteLength(target.key, 'utf8');
  if (keyBytes > MAX_KEY_BYTES) {
    return lineRejection(
      manifest,
      line,
      'INVALID_KEY',
      `the key of ${formatS3Uri({ ...target, key: `${target.key.slice(0, 60)}...` })} is ${keyBytes} bytes; ` +
        `S3 keys are at most ${MAX_KEY_BYTES} bytes of UTF-8, so shorten the name`,
      entry,
    );
  }
  if (!options.allowed.some((scope) => isInside(target, scope))) {
    const allowed = options.allowed.map(formatS3Uri).join(', ');
    return lineRejection(
      manifest,
      line,
      'OUTSIDE_DATASET',
      `${formatS3Uri(target)} is outside the locations this pipeline may read (${allowed}); ` +
        'move the object there or list only objects inside them',
      entry,
    );
  }
  if (target.key === '' || target.key.endsWith('/')) {
    return lineRejection(
      manifest,
      line,
      'MALFORMED_MANIFEST_LINE',
      `${formatS3Uri(target)} names a folder, not an object`,
      entry,
    );
  }
  return {
    kind: 'object',
    object: {
      line,
      ...(entry === undefined ? {} : { entry }),
      bucket: target.bucket,
      key: target.key,
      ...(expected === undefined ? {} : { expected }),
    },
  };
}

async function* readJsonlManifest(
  objects: ObjectStore,
  manifest: S3Location,
  options: ManifestReadOptions,
): AsyncIterable<ManifestEntry> {
  let line = 0;
  for await (const raw of objects.lines(manifest)) {
    line += 1;
    // Editors on Windows save UTF-8 with a byte order mark; it is not part of the first line's JSON.
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      yield lineRejection(manifest, line, 'MALFORMED_MANIFEST_LINE', `not JSON (${(error as Error).message})`);
      continue;
    }
    const parsed = JsonlLineSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const what =
        issue?.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.join(', ')}`
          : `${issue?.path.join('.') || 'line'}: ${issue?.message}`;
      yield lineRejection(
        manifest,
        line,
        'MALFORMED_MANIFEST_LINE',
        `${what}; write {"key": "...", "expected": "..."}`,
      );
      continue;
    }
    const { key, expected } = parsed.data;
    let target: S3Location;
    try {
      target = key.startsWith('s3://') ? parseS3Uri(key, 'key') : { bucket: manifest.bucket, key };
    } catch (error) {
      yield lineRejection(manifest, line, 'MALFORMED_MANIFEST_LINE', (error as Error).message);
      continue;
    }
    yield checkScope(manifest, line, target, options, expected);
  }
}

async function* readManifestFile(
  objects: ObjectStore,
  manifest: S3Location,
  options: ManifestReadOptions,
): AsyncIterable<ManifestEntry> {
  const bytes = await objects.get(manifest);
  if (bytes === undefined) throw new ManifestError(`manifest ${formatS3Uri(manifest)} does not exist`);
  const text = new TextDecoder().decode(bytes);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(
      `manifest ${formatS3Uri(manifest)} is not valid JSON (${describeJsonError(error, text)}); a SageMaker ` +
        'ManifestFile is a JSON array: [{"prefix": "s3://bucket/prefix/"}, "relative/key.jpg", ...]',
      { cause: error },
    );
  }
  const head = Array.isArray(document) ? document[0] : undefined;
  const prefixParse = z.strictObject({ prefix: z.string() }).safeParse(head);
  if (!Array.isArray(document) || !prefixParse.success) {
    throw new ManifestError(
      `manifest ${formatS3Uri(manifest)} is not a SageMaker ManifestFile: it must be a JSON array whose first element ` +
        'is {"prefix": "s3://bucket/prefix/"} followed by object keys relative to that prefix',
    );
  }
  const prefix = parseS3Uri(prefixParse.data.prefix, `manifest ${formatS3Uri(manifest)} prefix`);
  const lines = elementLines(text);
  for (let index = 1; index < document.length; index++) {
    const entry: unknown = document[index];
    const line = lines[index] ?? index + 1;
    if (typeof entry !== 'string' || entry === '') {
      yield lineRejection(
        manifest,
        line,
        'MALFORMED_MANIFEST_LINE',
        'entries after the prefix must be non-empty key strings',
        index,
      );
      continue;
    }
    const target = { bucket: prefix.bucket, key: `${prefix.key}${entry}` };
    yield checkScope(manifest, line, target, options, undefined, index);
  }
}

/**
 * Line number (1-based) of each top-level array element's first character. jsonc-parser's visitor reports where
 * every value starts; returning `false` from a nested value's begin callback skips its contents (the matching end
 * callbacks must exist for the skip to end), so only the top-level elements are counted.
 */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  const onValue = (startLine: number, path: () => JSONPath): boolean => {
    const depth = path().length;
    if (depth === 1) lines.push(startLine + 1);
    return depth === 0;
  };
  visit(text, {
    onArrayBegin: (_offset, _length, startLine, _character, path) => onValue(startLine, path),
    onObjectBegin: (_offset, _length, startLine, _character, path) => onValue(startLine, path),
    onLiteralValue: (_value, _offset, _length, startLine, _character, path) => {
      onValue(startLine, path);
    },
    onArrayEnd: () => {},
    onObjectEnd: () => {},
  });
  return lines;
}

/** "line L column C: problem" for text that JSON.parse refused, located by jsonc-parser's strict scan. */
export function describeJsonError(error: unknown, text: string): string {
  const errors: ParseError[] = [];
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first === undefined) return (error as Error).message;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `line ${line} column ${column}: ${printParseErrorCode(first.error)}`;
}
