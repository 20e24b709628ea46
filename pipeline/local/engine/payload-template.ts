/**
 * Payload templates: `Parameters`, `ResultSelector`, `ItemSelector`, `ItemBatcher.BatchInput` and the `Parameters`
 * of `ItemReader`/`ResultWriter`. A key ending in `.$` takes the value its path or intrinsic call selects, under the
 * key without the suffix; everything else is copied, nested objects and arrays included
 * ("Parameters", https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html).
 */
import { StatesError, StatesErrors } from './engine-errors.ts';
import {
  evaluateIntrinsic,
  type IntrinsicScope,
  IntrinsicSyntaxError,
  looksLikeIntrinsic,
  parseIntrinsic,
} from './intrinsic-functions.ts';
import { isPlainObject, JsonPathSyntaxError, parseJsonPath, selectPath } from './json-path.ts';

/** Evaluates a template against the state's effective input and the context object. */
export function evaluatePayloadTemplate(template: unknown, scope: IntrinsicScope): unknown {
  if (Array.isArray(template)) return template.map((element) => evaluatePayloadTemplate(element, scope));
  if (!isPlainObject(template)) return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      out[key.slice(0, -2)] = evaluateDynamicValue(value as string, key, scope);
    } else {
      out[key] = evaluatePayloadTemplate(value, scope);
    }
  }
  return out;
}

/** A `.$` value: an intrinsic call or a path into the input (`$`) or the context object (`$$`). */
export function evaluateDynamicValue(expression: string, field: string, scope: IntrinsicScope): unknown {
  if (looksLikeIntrinsic(expression)) return evaluateIntrinsic(parseIntrinsic(expression), scope);
  const path = parseJsonPath(expression);
  const root = path.root === '$$' ? scope.context : scope.input;
  const selected = selectPath(path, root);
  if (!selected.found) {
    // Step Functions reports a missing Parameters path as States.Runtime, with this wording.
    throw new StatesError(
      StatesErrors.Runtime,
      `The JSONPath '${expression}' specified for the field '${field}' could not be found in the input '${preview(root)}'`,
    );
  }
  return selected.value;
}

/** Static check of a template: every `.$` value is a string that parses as a path or an intrinsic call. */
export function checkPayloadTemplate(template: unknown, where: string, problems: string[]): void {
  if (Array.isArray(template)) {
    template.forEach((element, i) => {
      checkPayloadTemplate(element, `${where}[${i}]`, problems);
    });
    return;
  }
  if (!isPlainObject(template)) return;
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) checkDynamicValue(value, `${where}.${key}`, problems);
    else checkPayloadTemplate(value, `${where}.${key}`, problems);
  }
}

export function checkDynamicValue(value: unknown, where: string, problems: string[]): void {
  if (typeof value !== 'string') {
    problems.push(`${where}: a field ending in ".$" takes a path or an intrinsic function as a string`);
    return;
  }
  try {
    if (looksLikeIntrinsic(value)) parseIntrinsic(value);
    else if (value.startsWith('$')) parseJsonPath(value);
    else problems.push(`${where}: "${value}" is neither a path ($...) nor an intrinsic function (States.X(...))`);
  } catch (error) {
    if (error instanceof JsonPathSyntaxError || error instanceof IntrinsicSyntaxError) {
      problems.push(`${where}: ${error.message}`);
    } else throw error;
  }
}

export function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
