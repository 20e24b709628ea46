/**
 * SageMaker's DataProcessing filters (`InputFilter`, `OutputFilter`) applied to one JSON record. The path is parsed
 * by the local engine's JSONPath parser; what it selects follows SageMaker, not ASL: a union of keys (`$['a','b']`)
 * yields an object of the members present and a union of indexes (`$[0,2]`) an array, where ASL would yield a list.
 * The local batch transform applies `$`, `.name`, `['name']`, `['a','b']`, `[n]`, `[n,m]` and `[start:end]` (what our
 * state machine's filters use, and the examples of "Associate Prediction Results with Input Records",
 * https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html) and refuses the rest by name.
 */
import { type JsonPathSegment, JsonPathSyntaxError, parseJsonPath } from './engine/index.ts';

export class RecordFilterError extends Error {
  override readonly name = 'RecordFilterError';
}

function parse(path: string): readonly JsonPathSegment[] {
  let parsed: ReturnType<typeof parseJsonPath>;
  try {
    parsed = parseJsonPath(path);
  } catch (error) {
    if (error instanceof JsonPathSyntaxError) throw new RecordFilterError(`filter "${path}": ${error.message}`);
    throw error;
  }
  if (parsed.root !== '$') throw new RecordFilterError(`filter "${path}" must start with $, not $$`);
  for (const segment of parsed.segments) {
    const supported =
      segment.kind === 'name' ||
      segment.kind === 'names' ||
      segment.kind === 'index' ||
      segment.kind === 'indexes' ||
      (segment.kind === 'slice' && (segment.step === undefined || segment.step === 1));
    if (!supported) {
      throw new RecordFilterError(
        `filter "${path}": the local batch transform applies $, .name, ['a','b'], [n], [n,m] and [start:end] only`,
      );
    }
  }
  return parsed.segments;
}

/** Applies a filter; a union of keys yields an object (or array) of the selected members, as SageMaker does. */
export function applyRecordFilter(path: string, record: unknown): unknown {
  let current: unknown = record;
  for (const segment of parse(path)) {
    if (segment.kind === 'name' || segment.kind === 'names') {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
      const source = current as Record<string, unknown>;
      current =
        segment.kind === 'name'
          ? source[segment.name]
          : Object.fromEntries(segment.names.filter((name) => name in source).map((name) => [name, source[name]]));
    } else if (segment.kind === 'index' || segment.kind === 'indexes') {
      if (!Array.isArray(current)) return undefined;
      const list = current;
      const pick = (index: number) => list[index < 0 ? list.length + index : index];
      current = segment.kind === 'index' ? pick(segment.index) : segment.indexes.map(pick);
    } else if (segment.kind === 'slice') {
      if (!Array.isArray(current)) return undefined;
      current = current.slice(segment.start, segment.end);
    }
  }
  return current;
}
