/**
 * Evaluates Choice rules ("Choice Rules" in the ASL specification; "Choice workflow state" in the Developer Guide).
 * A comparison whose variable has the wrong type is simply false; a variable path that selects nothing is a
 * `States.Runtime` error unless the operator is `IsPresent`.
 */
import { type ChoiceCondition, parseTimestamp } from './definition.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';
import { type JsonPath, selectPath } from './json-path.ts';
import { preview } from './payload-template.ts';

export interface ChoiceScope {
  readonly input: unknown;
  readonly context: unknown;
}

export function evaluateCondition(condition: ChoiceCondition, scope: ChoiceScope): boolean {
  switch (condition.kind) {
    case 'and':
      return condition.rules.every((rule) => evaluateCondition(rule, scope));
    case 'or':
      return condition.rules.some((rule) => evaluateCondition(rule, scope));
    case 'not':
      return !evaluateCondition(condition.rule, scope);
    case 'test':
      return test(condition, scope);
  }
}

function read(path: JsonPath, scope: ChoiceScope): { found: boolean; value?: unknown } {
  return selectPath(path, path.root === '$$' ? scope.context : scope.input);
}

function test(condition: Extract<ChoiceCondition, { kind: 'test' }>, scope: ChoiceScope): boolean {
  const variable = read(condition.variable, scope);
  if (condition.operator === 'IsPresent') return variable.found === condition.value;
  if (!variable.found) {
    throw new StatesError(
      StatesErrors.Runtime,
      `Invalid path '${condition.variable.text}': The choice state's condition path references an invalid value in '${preview(scope.input)}'`,
    );
  }
  const value = variable.value;
  switch (condition.operator) {
    case 'IsNull':
      return (value === null) === condition.value;
    case 'IsNumeric':
      return (typeof value === 'number') === condition.value;
    case 'IsString':
      return (typeof value === 'string') === condition.value;
    case 'IsBoolean':
      return (typeof value === 'boolean') === condition.value;
    case 'IsTimestamp':
      return (typeof value === 'string' && parseTimestamp(value) !== undefined) === condition.value;
  }
  let operand = condition.value;
  if (condition.valuePath) {
    const selected = read(condition.valuePath, scope);
    if (!selected.found) {
      throw new StatesError(
        StatesErrors.Runtime,
        `Invalid path '${condition.valuePath.text}': The choice state's comparison path references an invalid value`,
      );
    }
    operand = selected.value;
  }
  return compare(condition.operator, value, operand);
}

function compare(operator: string, value: unknown, operand: unknown): boolean {
  if (operator.startsWith('String')) {
    if (typeof value !== 'string' || typeof operand !== 'string') return false;
    switch (operator) {
      case 'StringEquals':
        return value === operand;
      case 'StringLessThan':
        return value < operand;
      case 'StringGreaterThan':
        return value > operand;
      case 'StringLessThanEquals':
        return value <= operand;
      case 'StringGreaterThanEquals':
        return value >= operand;
      case 'StringMatches':
        return matchesPattern(value, operand);
    }
  }
  if (operator.startsWith('Numeric')) {
    if (typeof value !== 'number' || typeof operand !== 'number') return false;
    switch (operator) {
      case 'NumericEquals':
        return value === operand;
      case 'NumericLessThan':
        return value < operand;
      case 'NumericGreaterThan':
        return value > operand;
      case 'NumericLessThanEquals':
        return value <= operand;
      case 'NumericGreaterThanEquals':
        return value >= operand;
    }
  }
  if (operator === 'BooleanEquals') return typeof value === 'boolean' && value === operand;
  if (operator.startsWith('Timestamp')) {
    const a = typeof value === 'string' ? parseTimestamp(value) : undefined;
    const b = typeof operand === 'string' ? parseTimestamp(operand) : undefined;
    if (a === undefined || b === undefined) return false;
    switch (operator) {
      case 'TimestampEquals':
        return a === b;
      case 'TimestampLessThan':
        return a < b;
      case 'TimestampGreaterThan':
        return a > b;
      case 'TimestampLessThanEquals':
        return a <= b;
      case 'TimestampGreaterThanEquals':
        return a >= b;
    }
  }
  return false;
}

/** `StringMatches`: `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash. */
export function matchesPattern(value: string, pattern: string): boolean {
  let regex = '^';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) {
      regex += escapeRegex(pattern[i + 1] as string);
      i += 1;
    } else if (c === '*') regex += '[\\s\\S]*';
    else regex += escapeRegex(c);
  }
  return new RegExp(`${regex}$`).test(value);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
