/**
 * The field-level checks every part of the definition check shares. Each records a problem as
 * `<state path>.<field>: <what is wrong>` and carries on, so one run of the check lists every problem at once.
 */
import type { PayloadTemplate } from './asl.ts';
import { isPlainObject, isReferencePath, type JsonPath, JsonPathSyntaxError, parseJsonPath } from './json-path.ts';
import { checkPayloadTemplate } from './payload-template.ts';

/** The refusal for anything written in JSONata. */
export const JSONATA_REFUSAL = 'JSONata is not supported by the local engine (use the JSONPath query language)';

/** Fields that exist in Step Functions but that this engine does not implement, with the reason given to the user. */
const UNSUPPORTED_FIELDS: Readonly<Record<string, string>> = {
  Arguments: JSONATA_REFUSAL,
  Output: JSONATA_REFUSAL,
  Condition: JSONATA_REFUSAL,
  Items: JSONATA_REFUSAL,
  Assign: 'workflow variables (Assign) are not supported by the local engine',
  Credentials: 'cross-account task credentials are not supported by the local engine',
};

/** Collects the problems of one definition check. */
export class FieldChecker {
  /** Every problem found so far, in the order found. */
  readonly problems: string[] = [];

  problem(where: string, message: string): void {
    this.problems.push(`${where}: ${message}`);
  }

  queryLanguage(value: Record<string, unknown>, where: string): void {
    if (value.QueryLanguage === undefined || value.QueryLanguage === 'JSONPath') return;
    if (value.QueryLanguage === 'JSONata') {
      this.problem(
        `${where}.QueryLanguage`,
        'JSONata is not supported by the local engine; the definition must use the JSONPath query language',
      );
    } else this.problem(`${where}.QueryLanguage`, 'must be "JSONPath" or "JSONata"');
  }

  target(next: unknown, where: string, names: ReadonlySet<string>): void {
    if (typeof next !== 'string') this.problem(where, 'must be a state name');
    else if (!names.has(next)) this.problem(where, `names "${next}", which is not a state of this graph`);
  }

  resultPath(value: Record<string, unknown>, where: string): string | null | undefined {
    if (!('ResultPath' in value)) return undefined;
    const v = value.ResultPath;
    if (v === null) return null;
    const path = this.path(v, `${where}.ResultPath`);
    if (path && !isReferencePath(path)) {
      this.problem(`${where}.ResultPath`, 'must be a reference path ($, $.a.b, $[0]) with no wildcards, filters or $$');
    }
    return v as string;
  }

  template(value: Record<string, unknown>, field: string, where: string): PayloadTemplate | undefined {
    if (!(field in value)) return undefined;
    const template = value[field];
    if (!isPlainObject(template)) {
      this.problem(`${where}.${field}`, 'must be a JSON object');
      return undefined;
    }
    checkPayloadTemplate(template, `${where}.${field}`, this.problems);
    return template;
  }

  path(value: unknown, where: string): JsonPath | undefined {
    if (typeof value !== 'string') {
      this.problem(where, 'must be a path string starting with "$"');
      return undefined;
    }
    if (value.startsWith('{%')) {
      this.problem(where, JSONATA_REFUSAL);
      return undefined;
    }
    try {
      return parseJsonPath(value);
    } catch (error) {
      if (error instanceof JsonPathSyntaxError) this.problem(where, error.message);
      else throw error;
      return undefined;
    }
  }

  optionalReferencePath(value: Record<string, unknown>, field: string, where: string): string | undefined {
    if (value[field] === undefined) return undefined;
    const path = this.path(value[field], `${where}.${field}`);
    if (path && !path.definite) this.problem(`${where}.${field}`, 'must be a reference path');
    return path ? (value[field] as string) : undefined;
  }

  optionalInteger(value: Record<string, unknown>, field: string, where: string, min: number): number | undefined {
    const v = value[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      this.problem(`${where}.${field}`, `must be an integer of at least ${min}`);
      return undefined;
    }
    return v;
  }

  onlyFields(value: Record<string, unknown>, allowed: readonly string[], where: string, owner?: string): void {
    for (const key of Object.keys(value)) {
      if (allowed.includes(key)) continue;
      const known = owner ? `is not a field of ${owner}` : 'is not a field the local engine knows here';
      this.problem(`${where}.${key}`, UNSUPPORTED_FIELDS[key] ?? `${known}; remove it or fix its name`);
    }
  }

  /** A JSONata expression in a JSONPath state is a plain string to AWS, which would mislead; refuse it. */
  jsonataStrings(value: Record<string, unknown>, where: string): void {
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'string' && v.startsWith('{%') && v.endsWith('%}')) {
        this.problem(`${where}.${key}`, JSONATA_REFUSAL);
      }
    }
  }
}
