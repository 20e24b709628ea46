/**
 * Choice rules ("Choice Rules" in the ASL specification; "Choice workflow state" in the Developer Guide): the check
 * that compiles a Choice state's rules, naming the rule and field of every problem, and their evaluation.
 * A comparison whose variable has the wrong type is simply false; a variable path that selects nothing is a
 * `States.Runtime` error unless the operator is `IsPresent`.
 */
import { type ChoiceCondition, type ChoiceState, parseTimestamp } from './asl.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';
import { type FieldChecker, JSONATA_REFUSAL } from './field-checks.ts';
import { isPlainObject, type JsonPath, selectPath } from './json-path.ts';
import { preview } from './payload-template.ts';

/** Comparison operators and the type of literal each takes ("Choice Rules" in the ASL specification). */
const COMPARISONS: Readonly<Record<string, 'string' | 'number' | 'boolean' | 'timestamp'>> = {
  StringEquals: 'string',
  StringLessThan: 'string',
  StringGreaterThan: 'string',
  StringLessThanEquals: 'string',
  StringGreaterThanEquals: 'string',
  StringMatches: 'string',
  NumericEquals: 'number',
  NumericLessThan: 'number',
  NumericGreaterThan: 'number',
  NumericLessThanEquals: 'number',
  NumericGreaterThanEquals: 'number',
  BooleanEquals: 'boolean',
  TimestampEquals: 'timestamp',
  TimestampLessThan: 'timestamp',
  TimestampGreaterThan: 'timestamp',
  TimestampLessThanEquals: 'timestamp',
  TimestampGreaterThanEquals: 'timestamp',
};
const TYPE_TESTS = new Set(['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp']);

/** Checks a Choice state's `Choices` and `Default`, compiling each rule into a {@link ChoiceCondition}. */
export function checkChoiceRules(
  check: FieldChecker,
  value: Record<string, unknown>,
  where: string,
  names: ReadonlySet<string>,
): Pick<ChoiceState, 'Choices' | 'Default'> {
  const choices: { condition: ChoiceCondition; Next: string }[] = [];
  if (!Array.isArray(value.Choices) || value.Choices.length === 0) {
    check.problem(`${where}.Choices`, 'is required and must be a non-empty array of rules');
  } else {
    value.Choices.forEach((rule, i) => {
      const at = `${where}.Choices[${i}]`;
      if (!isPlainObject(rule)) {
        check.problem(at, 'a choice rule must be a JSON object');
        return;
      }
      check.target(rule.Next, `${at}.Next`, names);
      const condition = checkCondition(check, rule, at, true);
      if (condition && typeof rule.Next === 'string') choices.push({ condition, Next: rule.Next });
    });
  }
  if (value.Default !== undefined) check.target(value.Default, `${where}.Default`, names);
  return {
    Choices: choices,
    ...(typeof value.Default === 'string' ? { Default: value.Default } : {}),
  };
}

function checkCondition(
  check: FieldChecker,
  rule: Record<string, unknown>,
  where: string,
  top: boolean,
): ChoiceCondition | undefined {
  const allowed = top ? ['Next', 'Comment'] : ['Comment'];
  const keys = Object.keys(rule).filter((key) => !allowed.includes(key));
  if (!top && 'Next' in rule) check.problem(`${where}.Next`, 'only top-level choice rules have "Next"');
  for (const op of ['And', 'Or'] as const) {
    if (!(op in rule)) continue;
    if (keys.length !== 1) check.problem(where, `"${op}" cannot be combined with other fields: ${keys.join(', ')}`);
    const list = rule[op];
    if (!Array.isArray(list) || list.length === 0) {
      check.problem(`${where}.${op}`, 'must be a non-empty array of rules');
      return undefined;
    }
    const rules: ChoiceCondition[] = [];
    list.forEach((inner, i) => {
      if (!isPlainObject(inner)) check.problem(`${where}.${op}[${i}]`, 'a choice rule must be a JSON object');
      else {
        const checked = checkCondition(check, inner, `${where}.${op}[${i}]`, false);
        if (checked) rules.push(checked);
      }
    });
    return { kind: op === 'And' ? 'and' : 'or', rules };
  }
  if ('Not' in rule) {
    if (keys.length !== 1) check.problem(where, `"Not" cannot be combined with other fields: ${keys.join(', ')}`);
    if (!isPlainObject(rule.Not)) {
      check.problem(`${where}.Not`, 'must be a choice rule object');
      return undefined;
    }
    const inner = checkCondition(check, rule.Not, `${where}.Not`, false);
    return inner ? { kind: 'not', rule: inner } : undefined;
  }
  const operators = keys.filter((key) => key !== 'Variable');
  if (operators.length !== 1) {
    check.problem(
      where,
      `a choice rule needs "Variable" and exactly one comparison operator, found: ${keys.join(', ') || 'none'}`,
    );
    return undefined;
  }
  const operator = operators[0] as string;
  if (typeof rule.Variable !== 'string') {
    check.problem(`${where}.Variable`, 'is required and must be a path');
    return undefined;
  }
  const variable = check.path(rule.Variable, `${where}.Variable`);
  if (!variable) return undefined;
  const operand = rule[operator];
  const at = `${where}.${operator}`;
  if (TYPE_TESTS.has(operator)) {
    if (typeof operand !== 'boolean') check.problem(at, 'must be true or false');
    return { kind: 'test', variable, operator, value: operand };
  }
  const isPath = operator.endsWith('Path') && operator.slice(0, -4) in COMPARISONS;
  const base = isPath ? operator.slice(0, -4) : operator;
  const type = COMPARISONS[base];
  if (type === undefined) {
    if (operator.startsWith('{%') || operator === 'Condition') check.problem(at, JSONATA_REFUSAL);
    else check.problem(at, 'is not a comparison operator of the Amazon States Language');
    return undefined;
  }
  if (isPath) {
    const valuePath = check.path(operand, at);
    return valuePath ? { kind: 'test', variable, operator: base, value: undefined, valuePath } : undefined;
  }
  const ok =
    type === 'timestamp'
      ? typeof operand === 'string' && parseTimestamp(operand) !== undefined
      : typeof operand === type;
  if (!ok) check.problem(at, `must be a ${type === 'timestamp' ? 'RFC 3339 timestamp string' : type}`);
  return { kind: 'test', variable, operator: base, value: operand };
}

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
