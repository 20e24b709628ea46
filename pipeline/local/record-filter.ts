/**
 * The JSONPath subset SageMaker's DataProcessing filters use (`$`, `$.a.b`, `$['a']`, `$['a','b']`, `$[0]`,
 * `$.a[1:3]`), applied to one JSON record.
 * See https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html
 */

type Segment =
  | { kind: 'key'; names: string[] }
  | { kind: 'index'; indexes: number[] }
  | { kind: 'slice'; start?: number; end?: number };

export class RecordFilterError extends Error {
  override readonly name = 'RecordFilterError';
}

function parse(path: string): Segment[] {
  if (!path.startsWith('$')) throw new RecordFilterError(`filter "${path}" must start with $`);
  const segments: Segment[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const match = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1));
      if (!match) throw new RecordFilterError(`filter "${path}": expected a name after "." at ${i}`);
      segments.push({ kind: 'key', names: [match[0]] });
      i += 1 + match[0].length;
    } else if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) throw new RecordFilterError(`filter "${path}": unclosed [`);
      const inner = path.slice(i + 1, close).trim();
      if (/^['"]/.test(inner)) {
        const names = [...inner.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2] ?? '');
        segments.push({ kind: 'key', names });
      } else if (inner.includes(':')) {
        const [start, end] = inner.split(':').map((part) => (part.trim() === '' ? undefined : Number(part)));
        segments.push({
          kind: 'slice',
          ...(start === undefined ? {} : { start }),
          ...(end === undefined ? {} : { end }),
        });
      } else {
        segments.push({ kind: 'index', indexes: inner.split(',').map((part) => Number(part.trim())) });
      }
      i = close + 1;
    } else {
      throw new RecordFilterError(`filter "${path}": unexpected "${c}" at ${i}`);
    }
  }
  return segments;
}

/** Applies a filter; a union of keys yields an object (or array) of the selected members, as SageMaker does. */
export function applyRecordFilter(path: string, record: unknown): unknown {
  let current: unknown = record;
  for (const segment of parse(path)) {
    if (segment.kind === 'key') {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
      const source = current as Record<string, unknown>;
      if (segment.names.length === 1) {
        current = source[segment.names[0] ?? ''];
      } else {
        current = Object.fromEntries(
          segment.names.filter((name) => name in source).map((name) => [name, source[name]]),
        );
      }
    } else if (segment.kind === 'index') {
      if (!Array.isArray(current)) return undefined;
      const list = current;
      const picked = segment.indexes.map((index) => list[index < 0 ? list.length + index : index]);
      current = segment.indexes.length === 1 ? picked[0] : picked;
    } else {
      if (!Array.isArray(current)) return undefined;
      current = current.slice(segment.start, segment.end);
    }
  }
  return current;
}
