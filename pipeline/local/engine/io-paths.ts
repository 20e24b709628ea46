/**
 * Input and output processing ("Processing input and output in Step Functions"): InputPath and OutputPath select,
 * ResultPath writes a result into a copy of the input, and the `...Path` fields (TimeoutSecondsPath,
 * MaxConcurrencyPath, ItemsPath, ...) read a value that must have the right type. Failures are the `States.Runtime`
 * and `States.ResultPathMatchFailure` errors Step Functions reports, with its wording.
 */
import type { MapState } from './asl.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';
import { parseJsonPath, selectPath, writePath } from './json-path.ts';
import { preview } from './payload-template.ts';

/** The value a `...Path` field selects; `States.Runtime` when it selects nothing. */
export function readPath(text: string, root: unknown, field: string): unknown {
  const selected = selectPath(parseJsonPath(text), root);
  if (!selected.found) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ${field} '${text}' could not be found in the input '${preview(root)}'`,
    );
  }
  return selected.value;
}

/** A `...SecondsPath` value: a positive integer. */
export function positiveSeconds(path: string | undefined, root: unknown, field: string): number | undefined {
  if (path === undefined) return undefined;
  const value = readPath(path, root, field);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ${field} '${path}' must select a positive integer, not ${preview(value)}`,
    );
  }
  return value;
}

/** A `...Path` value that must be a non-negative integer (MaxConcurrencyPath). */
export function nonNegativeInteger(path: string | undefined, root: unknown, field: string): number | undefined {
  if (path === undefined) return undefined;
  const value = readPath(path, root, field);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ${field} '${path}' must select a non-negative integer, not ${preview(value)}`,
    );
  }
  return value;
}

/** InputPath (and OutputPath): absent keeps the value, null gives `{}`, a path selects. */
export function applyInputPath(input: unknown, path: string | null | undefined): unknown {
  if (path === undefined) return input;
  if (path === null) return {};
  const selected = selectPath(parseJsonPath(path), input);
  if (!selected.found) {
    throw new StatesError(
      StatesErrors.Runtime,
      `Invalid path '${path}' : No results for path: $['${path}'] in the input '${preview(input)}'`,
    );
  }
  return selected.value;
}

export function applyOutputPath(output: unknown, path: string | null | undefined): unknown {
  return applyInputPath(output, path);
}

/** ResultPath: `$` (default) replaces the input, null keeps it, a reference path writes the result into a copy. */
export function applyResultPath(input: unknown, result: unknown, path: string | null | undefined): unknown {
  if (path === undefined || path === '$') return result;
  if (path === null) return input;
  const written = writePath(parseJsonPath(path), input, result);
  if (written === undefined) {
    throw new StatesError(
      StatesErrors.ResultPathMatchFailure,
      `Unable to apply ResultPath '${path}' to input '${preview(input)}'`,
    );
  }
  return written.value;
}

/** An inline Map's items: what ItemsPath selects (default `$`), which must be an array. */
export function itemsOf(state: MapState, effective: unknown): unknown[] {
  const items = state.ItemsPath === undefined ? effective : readPath(state.ItemsPath, effective, 'ItemsPath');
  if (!Array.isArray(items)) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ItemsPath '${state.ItemsPath ?? '$'}' of the Map state must select a JSON array, not ${preview(items)}`,
    );
  }
  return items;
}
