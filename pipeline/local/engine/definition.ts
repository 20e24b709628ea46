/**
 * The Amazon States Language definition the engine runs, and the check that refuses, before anything runs, what
 * the engine does not implement. Field names are those of the ASL specification (https://states-language.net/spec.html)
 * and the Step Functions Developer Guide; the checked definition is normalised (legacy `Iterator` becomes
 * `ItemProcessor`, a Map's `Parameters` becomes `ItemSelector`, Retry defaults are filled in, Choice rules compiled)
 * and frozen.
 */
import { DefinitionError } from './engine-errors.ts';
import { isPlainObject, isReferencePath, type JsonPath, JsonPathSyntaxError, parseJsonPath } from './json-path.ts';
import { checkDynamicValue, checkPayloadTemplate } from './payload-template.ts';

export type PayloadTemplate = Readonly<Record<string, unknown>>;

export interface Retrier {
  readonly ErrorEquals: readonly string[];
  /** @default 1 */
  readonly IntervalSeconds: number;
  /** @default 3 */
  readonly MaxAttempts: number;
  /** @default 2.0 */
  readonly BackoffRate: number;
  readonly MaxDelaySeconds?: number;
  /** @default NONE */
  readonly JitterStrategy: 'FULL' | 'NONE';
}

export interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly Next: string;
  /** @default '$' */
  readonly ResultPath?: string | null;
}

interface Transition {
  readonly Next?: string;
  readonly End?: boolean;
}

interface Common {
  readonly Comment?: string;
  readonly InputPath?: string | null;
  readonly OutputPath?: string | null;
}

interface ResultHandling {
  readonly ResultPath?: string | null;
  readonly ResultSelector?: PayloadTemplate;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
}

export interface PassState extends Common, Transition {
  readonly Type: 'Pass';
  readonly Result?: unknown;
  readonly ResultPath?: string | null;
  readonly Parameters?: PayloadTemplate;
}

export interface TaskState extends Common, Transition, ResultHandling {
  readonly Type: 'Task';
  readonly Resource: string;
  readonly Parameters?: PayloadTemplate;
  readonly TimeoutSeconds?: number;
  readonly TimeoutSecondsPath?: string;
  readonly HeartbeatSeconds?: number;
  readonly HeartbeatSecondsPath?: string;
}

export type ChoiceCondition =
  | { readonly kind: 'and' | 'or'; readonly rules: readonly ChoiceCondition[] }
  | { readonly kind: 'not'; readonly rule: ChoiceCondition }
  | {
      readonly kind: 'test';
      readonly variable: JsonPath;
      readonly operator: string;
      /** The literal to compare with, or the path to read it from (`...Path` operators). */
      readonly value: unknown;
      readonly valuePath?: JsonPath;
    };

export interface ChoiceState extends Common {
  readonly Type: 'Choice';
  readonly Choices: readonly { readonly condition: ChoiceCondition; readonly Next: string }[];
  readonly Default?: string;
}

export interface WaitState extends Common, Transition {
  readonly Type: 'Wait';
  readonly Seconds?: number;
  readonly SecondsPath?: string;
  readonly Timestamp?: string;
  readonly TimestampPath?: string;
}

export interface SucceedState extends Common {
  readonly Type: 'Succeed';
}

export interface FailState {
  readonly Type: 'Fail';
  readonly Comment?: string;
  readonly Error?: string;
  readonly ErrorPath?: string;
  readonly Cause?: string;
  readonly CausePath?: string;
}

export interface ParallelState extends Common, Transition, ResultHandling {
  readonly Type: 'Parallel';
  readonly Branches: readonly StateMachineGraph[];
  readonly Parameters?: PayloadTemplate;
}

export type ExecutionType = 'STANDARD' | 'EXPRESS';

export interface ItemProcessor extends StateMachineGraph {
  readonly ProcessorConfig: { readonly Mode: 'INLINE' | 'DISTRIBUTED'; readonly ExecutionType?: ExecutionType };
}

export type ReaderInputType = 'JSON' | 'JSONL' | 'CSV';

export interface ItemReaderConfig {
  readonly Resource: string;
  readonly action: 'listObjectsV2' | 'getObject';
  readonly Parameters: PayloadTemplate;
  readonly ReaderConfig: {
    readonly InputType?: ReaderInputType;
    readonly CSVHeaderLocation?: 'FIRST_ROW' | 'GIVEN';
    readonly CSVHeaders?: readonly string[];
    readonly CSVDelimiter?: 'COMMA' | 'PIPE' | 'SEMICOLON' | 'SPACE' | 'TAB';
    readonly MaxItems?: number;
    readonly MaxItemsPath?: string;
  };
}

export interface ItemBatcherConfig {
  readonly MaxItemsPerBatch?: number;
  readonly MaxItemsPerBatchPath?: string;
  readonly MaxInputBytesPerBatch?: number;
  readonly MaxInputBytesPerBatchPath?: string;
  readonly BatchInput?: PayloadTemplate;
}

export interface ResultWriterConfig {
  /** Absent with a WriterConfig alone: the transformed results become the state output. */
  readonly Resource?: string;
  readonly Parameters?: PayloadTemplate;
  readonly WriterConfig?: {
    readonly Transformation?: 'NONE' | 'COMPACT' | 'FLATTEN';
    readonly OutputType?: 'JSON' | 'JSONL';
  };
}

export interface MapState extends Common, Transition, ResultHandling {
  readonly Type: 'Map';
  readonly ItemProcessor: ItemProcessor;
  readonly ItemsPath?: string;
  readonly ItemSelector?: PayloadTemplate;
  readonly MaxConcurrency?: number;
  readonly MaxConcurrencyPath?: string;
  readonly ItemReader?: ItemReaderConfig;
  readonly ItemBatcher?: ItemBatcherConfig;
  readonly ResultWriter?: ResultWriterConfig;
  readonly ToleratedFailurePercentage?: number;
  readonly ToleratedFailurePercentagePath?: string;
  readonly ToleratedFailureCount?: number;
  readonly ToleratedFailureCountPath?: string;
  readonly Label?: string;
}

export type State =
  | PassState
  | TaskState
  | ChoiceState
  | WaitState
  | SucceedState
  | FailState
  | ParallelState
  | MapState;

export interface StateMachineGraph {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

export interface StateMachineDefinition extends StateMachineGraph {
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
}

/** What the check asks of the engine about task resources. */
export interface DefinitionCheckOptions {
  /** Problems with a Task's resource and parameters; an empty list when an integration takes it. */
  readonly checkTask: (resource: string, parameters: PayloadTemplate | undefined, where: string) => string[];
  /** Whether an S3 client is there for ItemReader and ResultWriter. */
  readonly s3: boolean;
}

const S3_READER = /^arn:aws[a-z-]*:states:::s3:(listObjectsV2|getObject)$/;
const S3_WRITER = /^arn:aws[a-z-]*:states:::s3:putObject$/;

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

const COMMON = ['Type', 'Comment', 'InputPath', 'OutputPath'];
const TRANSITION = ['Next', 'End'];
const RESULT = ['ResultPath', 'ResultSelector', 'Retry', 'Catch'];
const FIELDS: Readonly<Record<State['Type'], readonly string[]>> = {
  Pass: [...COMMON, ...TRANSITION, 'Result', 'ResultPath', 'Parameters'],
  Task: [
    ...COMMON,
    ...TRANSITION,
    ...RESULT,
    'Resource',
    'Parameters',
    'TimeoutSeconds',
    'TimeoutSecondsPath',
    'HeartbeatSeconds',
    'HeartbeatSecondsPath',
  ],
  Choice: [...COMMON, 'Choices', 'Default'],
  Wait: [...COMMON, ...TRANSITION, 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'],
  Succeed: COMMON,
  Fail: ['Type', 'Comment', 'Error', 'ErrorPath', 'Cause', 'CausePath'],
  Parallel: [...COMMON, ...TRANSITION, ...RESULT, 'Branches', 'Parameters'],
  Map: [
    ...COMMON,
    ...TRANSITION,
    ...RESULT,
    'ItemProcessor',
    'Iterator',
    'ItemsPath',
    'ItemSelector',
    'Parameters',
    'MaxConcurrency',
    'MaxConcurrencyPath',
    'ItemReader',
    'ItemBatcher',
    'ResultWriter',
    'ToleratedFailurePercentage',
    'ToleratedFailurePercentagePath',
    'ToleratedFailureCount',
    'ToleratedFailureCountPath',
    'Label',
  ],
};

/** Fields that exist in Step Functions but that this engine does not implement, with the reason given to the user. */
const UNSUPPORTED_FIELDS: Readonly<Record<string, string>> = {
  Arguments: 'JSONata is not supported by the local engine (use the JSONPath query language)',
  Output: 'JSONata is not supported by the local engine (use the JSONPath query language)',
  Condition: 'JSONata is not supported by the local engine (use the JSONPath query language)',
  Items: 'JSONata is not supported by the local engine (use the JSONPath query language)',
  Assign: 'workflow variables (Assign) are not supported by the local engine',
  Credentials: 'cross-account task credentials are not supported by the local engine',
};

/**
 * Checks and normalises a definition (an object as `cdk synth` emits it, CloudFormation references already
 * resolved, or its JSON text). Throws {@link DefinitionError} listing every problem; nothing is silently ignored.
 */
export function parseDefinition(raw: unknown, options: DefinitionCheckOptions): StateMachineDefinition {
  let value = raw;
  const problems: string[] = [];
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new DefinitionError([`the definition is not JSON: ${(error as Error).message}`]);
    }
  }
  if (!isPlainObject(value)) throw new DefinitionError(['the definition must be a JSON object']);
  const checker = new Checker(options, problems);
  const definition = checker.topLevel(value);
  if (problems.length > 0) throw new DefinitionError(problems);
  return deepFreeze(definition);
}

class Checker {
  constructor(
    private readonly options: DefinitionCheckOptions,
    private readonly problems: string[],
  ) {}

  private problem(where: string, message: string): void {
    this.problems.push(`${where}: ${message}`);
  }

  topLevel(value: Record<string, unknown>): StateMachineDefinition {
    const where = '(top level)';
    this.queryLanguage(value, where);
    this.onlyFields(value, ['StartAt', 'States', 'Comment', 'Version', 'TimeoutSeconds', 'QueryLanguage'], where);
    if (value.Version !== undefined && value.Version !== '1.0') this.problem(`${where}.Version`, 'must be "1.0"');
    const timeout = this.optionalInteger(value, 'TimeoutSeconds', where, 1);
    const graph = this.graph(value, '');
    return {
      ...graph,
      ...(typeof value.Comment === 'string' ? { Comment: value.Comment } : {}),
      ...(timeout === undefined ? {} : { TimeoutSeconds: timeout }),
    };
  }

  private queryLanguage(value: Record<string, unknown>, where: string): void {
    if (value.QueryLanguage === undefined || value.QueryLanguage === 'JSONPath') return;
    if (value.QueryLanguage === 'JSONata') {
      this.problem(
        `${where}.QueryLanguage`,
        'JSONata is not supported by the local engine; the definition must use the JSONPath query language',
      );
    } else this.problem(`${where}.QueryLanguage`, 'must be "JSONPath" or "JSONata"');
  }

  /** `prefix` is '' for the top level, or e.g. `States.Fan.ItemProcessor.` for a nested graph. */
  private graph(value: Record<string, unknown>, prefix: string): StateMachineGraph {
    const states: Record<string, State> = {};
    const where = prefix === '' ? '(top level)' : prefix.slice(0, -1);
    if (typeof value.StartAt !== 'string') this.problem(`${where}.StartAt`, 'is required and must be a state name');
    if (!isPlainObject(value.States) || Object.keys(value.States).length === 0) {
      this.problem(`${where}.States`, 'is required and must name at least one state');
      return { StartAt: String(value.StartAt), States: states };
    }
    const names = new Set(Object.keys(value.States));
    if (typeof value.StartAt === 'string' && !names.has(value.StartAt)) {
      this.problem(`${where}.StartAt`, `names "${value.StartAt}", which is not in States`);
    }
    for (const [name, state] of Object.entries(value.States)) {
      if (name.length > 80) this.problem(`${prefix}States.${name}`, 'a state name is at most 80 characters');
      const checked = this.state(state, `${prefix}States.${name}`, names);
      if (checked) states[name] = checked;
    }
    return { StartAt: value.StartAt as string, States: states };
  }

  private state(value: unknown, where: string, names: ReadonlySet<string>): State | undefined {
    if (!isPlainObject(value)) {
      this.problem(where, 'a state must be a JSON object');
      return undefined;
    }
    this.queryLanguage(value, where);
    const type = value.Type;
    if (typeof type !== 'string' || !(type in FIELDS)) {
      this.problem(`${where}.Type`, `must be one of ${Object.keys(FIELDS).join(', ')}`);
      return undefined;
    }
    const stateType = type as State['Type'];
    this.onlyFields(value, [...(FIELDS[stateType] ?? []), 'QueryLanguage'], where, `a ${stateType} state`);
    this.jsonataStrings(value, where);
    const common = this.common(value, where, stateType !== 'Fail');
    switch (stateType) {
      case 'Pass':
        return this.pass(value, where, names, common);
      case 'Task':
        return this.task(value, where, names, common);
      case 'Choice':
        return this.choice(value, where, names, common);
      case 'Wait':
        return this.wait(value, where, names, common);
      case 'Succeed':
        return { Type: 'Succeed', ...common };
      case 'Fail':
        return this.fail(value, where);
      case 'Parallel':
        return this.parallel(value, where, names, common);
      case 'Map':
        return this.map(value, where, names, common);
    }
  }

  private common(value: Record<string, unknown>, where: string, paths: boolean): Common {
    const out: { -readonly [K in keyof Common]: Common[K] } = {};
    if (typeof value.Comment === 'string') out.Comment = value.Comment;
    if (!paths) return out;
    for (const field of ['InputPath', 'OutputPath'] as const) {
      if (!(field in value)) continue;
      const v = value[field];
      if (v === null) out[field] = null;
      else if (this.path(v, `${where}.${field}`)) out[field] = v as string;
    }
    return out;
  }

  private transition(value: Record<string, unknown>, where: string, names: ReadonlySet<string>): Transition {
    const hasNext = value.Next !== undefined;
    const hasEnd = value.End !== undefined;
    if (hasNext === hasEnd) {
      this.problem(where, 'needs exactly one of "Next" and "End": true');
      return {};
    }
    if (hasEnd) {
      if (value.End !== true) this.problem(`${where}.End`, 'must be true when present');
      return { End: true };
    }
    this.target(value.Next, `${where}.Next`, names);
    return { Next: value.Next as string };
  }

  private target(next: unknown, where: string, names: ReadonlySet<string>): void {
    if (typeof next !== 'string') this.problem(where, 'must be a state name');
    else if (!names.has(next)) this.problem(where, `names "${next}", which is not a state of this graph`);
  }

  private pass(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): PassState {
    const resultPath = this.resultPath(value, where);
    const parameters = this.template(value, 'Parameters', where);
    return {
      Type: 'Pass',
      ...common,
      ...this.transition(value, where, names),
      ...('Result' in value ? { Result: value.Result } : {}),
      ...(resultPath === undefined ? {} : { ResultPath: resultPath }),
      ...(parameters === undefined ? {} : { Parameters: parameters }),
    };
  }

  private task(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): TaskState {
    const parameters = this.template(value, 'Parameters', where);
    if (typeof value.Resource !== 'string') this.problem(`${where}.Resource`, 'is required and must be an ARN string');
    else {
      for (const problem of this.options.checkTask(value.Resource, parameters, where)) this.problems.push(problem);
    }
    const timeout = this.optionalInteger(value, 'TimeoutSeconds', where, 1);
    const heartbeat = this.optionalInteger(value, 'HeartbeatSeconds', where, 1);
    const timeoutPath = this.optionalReferencePath(value, 'TimeoutSecondsPath', where);
    const heartbeatPath = this.optionalReferencePath(value, 'HeartbeatSecondsPath', where);
    if (timeout !== undefined && timeoutPath !== undefined) {
      this.problem(where, 'has both "TimeoutSeconds" and "TimeoutSecondsPath"; use one');
    }
    if (heartbeat !== undefined && heartbeatPath !== undefined) {
      this.problem(where, 'has both "HeartbeatSeconds" and "HeartbeatSecondsPath"; use one');
    }
    if (timeout !== undefined && heartbeat !== undefined && heartbeat >= timeout) {
      this.problem(`${where}.HeartbeatSeconds`, 'must be smaller than TimeoutSeconds');
    }
    return {
      Type: 'Task',
      ...common,
      ...this.transition(value, where, names),
      ...this.resultHandling(value, where, names),
      Resource: value.Resource as string,
      ...(parameters === undefined ? {} : { Parameters: parameters }),
      ...(timeout === undefined ? {} : { TimeoutSeconds: timeout }),
      ...(timeoutPath === undefined ? {} : { TimeoutSecondsPath: timeoutPath }),
      ...(heartbeat === undefined ? {} : { HeartbeatSeconds: heartbeat }),
      ...(heartbeatPath === undefined ? {} : { HeartbeatSecondsPath: heartbeatPath }),
    };
  }

  private choice(
    value: Record<string, unknown>,
    where: string,
    names: ReadonlySet<string>,
    common: Common,
  ): ChoiceState {
    const choices: { condition: ChoiceCondition; Next: string }[] = [];
    if (!Array.isArray(value.Choices) || value.Choices.length === 0) {
      this.problem(`${where}.Choices`, 'is required and must be a non-empty array of rules');
    } else {
      value.Choices.forEach((rule, i) => {
        const at = `${where}.Choices[${i}]`;
        if (!isPlainObject(rule)) {
          this.problem(at, 'a choice rule must be a JSON object');
          return;
        }
        this.target(rule.Next, `${at}.Next`, names);
        const condition = this.condition(rule, at, true);
        if (condition && typeof rule.Next === 'string') choices.push({ condition, Next: rule.Next });
      });
    }
    if (value.Default !== undefined) this.target(value.Default, `${where}.Default`, names);
    return {
      Type: 'Choice',
      ...common,
      Choices: choices,
      ...(typeof value.Default === 'string' ? { Default: value.Default } : {}),
    };
  }

  private condition(rule: Record<string, unknown>, where: string, top: boolean): ChoiceCondition | undefined {
    const allowed = top ? ['Next', 'Comment'] : ['Comment'];
    const keys = Object.keys(rule).filter((key) => !allowed.includes(key));
    if (!top && 'Next' in rule) this.problem(`${where}.Next`, 'only top-level choice rules have "Next"');
    for (const op of ['And', 'Or'] as const) {
      if (!(op in rule)) continue;
      if (keys.length !== 1) this.problem(where, `"${op}" cannot be combined with other fields: ${keys.join(', ')}`);
      const list = rule[op];
      if (!Array.isArray(list) || list.length === 0) {
        this.problem(`${where}.${op}`, 'must be a non-empty array of rules');
        return undefined;
      }
      const rules: ChoiceCondition[] = [];
      list.forEach((inner, i) => {
        if (!isPlainObject(inner)) this.problem(`${where}.${op}[${i}]`, 'a choice rule must be a JSON object');
        else {
          const checked = this.condition(inner, `${where}.${op}[${i}]`, false);
          if (checked) rules.push(checked);
        }
      });
      return { kind: op === 'And' ? 'and' : 'or', rules };
    }
    if ('Not' in rule) {
      if (keys.length !== 1) this.problem(where, `"Not" cannot be combined with other fields: ${keys.join(', ')}`);
      if (!isPlainObject(rule.Not)) {
        this.problem(`${where}.Not`, 'must be a choice rule object');
        return undefined;
      }
      const inner = this.condition(rule.Not, `${where}.Not`, false);
      return inner ? { kind: 'not', rule: inner } : undefined;
    }
    const operators = keys.filter((key) => key !== 'Variable');
    if (operators.length !== 1) {
      this.problem(
        where,
        `a choice rule needs "Variable" and exactly one comparison operator, found: ${keys.join(', ') || 'none'}`,
      );
      return undefined;
    }
    const operator = operators[0] as string;
    if (typeof rule.Variable !== 'string') {
      this.problem(`${where}.Variable`, 'is required and must be a path');
      return undefined;
    }
    const variable = this.path(rule.Variable, `${where}.Variable`);
    if (!variable) return undefined;
    const operand = rule[operator];
    const at = `${where}.${operator}`;
    if (TYPE_TESTS.has(operator)) {
      if (typeof operand !== 'boolean') this.problem(at, 'must be true or false');
      return { kind: 'test', variable, operator, value: operand };
    }
    const isPath = operator.endsWith('Path') && operator.slice(0, -4) in COMPARISONS;
    const base = isPath ? operator.slice(0, -4) : operator;
    const type = COMPARISONS[base];
    if (type === undefined) {
      if (operator.startsWith('{%') || operator === 'Condition')
        this.problem(at, UNSUPPORTED_FIELDS.Condition as string);
      else this.problem(at, 'is not a comparison operator of the Amazon States Language');
      return undefined;
    }
    if (isPath) {
      const valuePath = this.path(operand, at);
      return valuePath ? { kind: 'test', variable, operator: base, value: undefined, valuePath } : undefined;
    }
    const ok =
      type === 'timestamp'
        ? typeof operand === 'string' && parseTimestamp(operand) !== undefined
        : typeof operand === type;
    if (!ok) this.problem(at, `must be a ${type === 'timestamp' ? 'RFC 3339 timestamp string' : type}`);
    return { kind: 'test', variable, operator: base, value: operand };
  }

  private wait(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): WaitState {
    const given = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((field) => field in value);
    if (given.length !== 1)
      this.problem(where, `needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath; found ${given.length}`);
    const seconds = this.optionalInteger(value, 'Seconds', where, 0);
    if (value.Timestamp !== undefined && (typeof value.Timestamp !== 'string' || !parseTimestamp(value.Timestamp))) {
      this.problem(`${where}.Timestamp`, 'must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z');
    }
    const secondsPath = this.optionalReferencePath(value, 'SecondsPath', where);
    const timestampPath = this.optionalReferencePath(value, 'TimestampPath', where);
    return {
      Type: 'Wait',
      ...common,
      ...this.transition(value, where, names),
      ...(seconds === undefined ? {} : { Seconds: seconds }),
      ...(secondsPath === undefined ? {} : { SecondsPath: secondsPath }),
      ...(typeof value.Timestamp === 'string' ? { Timestamp: value.Timestamp } : {}),
      ...(timestampPath === undefined ? {} : { TimestampPath: timestampPath }),
    };
  }

  private fail(value: Record<string, unknown>, where: string): FailState {
    const out: { -readonly [K in keyof FailState]: FailState[K] } = { Type: 'Fail' };
    if (typeof value.Comment === 'string') out.Comment = value.Comment;
    for (const [field, pathField] of [
      ['Error', 'ErrorPath'],
      ['Cause', 'CausePath'],
    ] as const) {
      if (value[field] !== undefined && value[pathField] !== undefined) {
        this.problem(where, `has both "${field}" and "${pathField}"; use one`);
      }
      if (value[field] !== undefined) {
        if (typeof value[field] !== 'string') this.problem(`${where}.${field}`, 'must be a string');
        else out[field] = value[field];
      }
      if (value[pathField] !== undefined) {
        // ErrorPath and CausePath take a reference path or an intrinsic function.
        checkDynamicValue(value[pathField], `${where}.${pathField}`, this.problems);
        if (typeof value[pathField] === 'string') out[pathField] = value[pathField];
      }
    }
    return out;
  }

  private parallel(
    value: Record<string, unknown>,
    where: string,
    names: ReadonlySet<string>,
    common: Common,
  ): ParallelState {
    const branches: StateMachineGraph[] = [];
    if (!Array.isArray(value.Branches) || value.Branches.length === 0) {
      this.problem(`${where}.Branches`, 'is required and must be a non-empty array');
    } else {
      value.Branches.forEach((branch, i) => {
        const at = `${where}.Branches[${i}]`;
        if (!isPlainObject(branch)) this.problem(at, 'a branch must be a JSON object with StartAt and States');
        else {
          this.queryLanguage(branch, at);
          this.onlyFields(branch, ['StartAt', 'States', 'Comment', 'QueryLanguage'], at);
          branches.push(this.graph(branch, `${at}.`));
        }
      });
    }
    const parameters = this.template(value, 'Parameters', where);
    return {
      Type: 'Parallel',
      ...common,
      ...this.transition(value, where, names),
      ...this.resultHandling(value, where, names),
      Branches: branches,
      ...(parameters === undefined ? {} : { Parameters: parameters }),
    };
  }

  private map(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): MapState {
    if ('Iterator' in value && 'ItemProcessor' in value)
      this.problem(where, 'has both "Iterator" and "ItemProcessor"; use one');
    if ('Parameters' in value && 'ItemSelector' in value)
      this.problem(where, 'has both "Parameters" and "ItemSelector"; use one');
    const processorField = 'ItemProcessor' in value ? 'ItemProcessor' : 'Iterator';
    const rawProcessor = value[processorField];
    let processor: ItemProcessor = { StartAt: '', States: {}, ProcessorConfig: { Mode: 'INLINE' } };
    if (!isPlainObject(rawProcessor))
      this.problem(`${where}.ItemProcessor`, 'is required: an object with StartAt and States');
    else {
      const at = `${where}.${processorField}`;
      this.queryLanguage(rawProcessor, at);
      this.onlyFields(rawProcessor, ['StartAt', 'States', 'Comment', 'ProcessorConfig', 'QueryLanguage'], at);
      const config = rawProcessor.ProcessorConfig ?? { Mode: 'INLINE' };
      let processorConfig: ItemProcessor['ProcessorConfig'] = { Mode: 'INLINE' };
      if (!isPlainObject(config)) this.problem(`${at}.ProcessorConfig`, 'must be an object');
      else {
        this.onlyFields(config, ['Mode', 'ExecutionType'], `${at}.ProcessorConfig`);
        const mode = config.Mode ?? 'INLINE';
        if (mode !== 'INLINE' && mode !== 'DISTRIBUTED')
          this.problem(`${at}.ProcessorConfig.Mode`, 'must be INLINE or DISTRIBUTED');
        if (mode === 'DISTRIBUTED') {
          if (config.ExecutionType !== 'STANDARD' && config.ExecutionType !== 'EXPRESS') {
            this.problem(`${at}.ProcessorConfig.ExecutionType`, 'is required in DISTRIBUTED mode: STANDARD or EXPRESS');
          }
          processorConfig = { Mode: 'DISTRIBUTED', ExecutionType: config.ExecutionType as ExecutionType };
        } else if (config.ExecutionType !== undefined) {
          this.problem(`${at}.ProcessorConfig.ExecutionType`, 'applies only in DISTRIBUTED mode');
        }
      }
      processor = { ...this.graph(rawProcessor, `${at}.`), ProcessorConfig: processorConfig };
    }
    const distributed = processor.ProcessorConfig.Mode === 'DISTRIBUTED';
    for (const field of [
      'ItemReader',
      'ItemBatcher',
      'ResultWriter',
      'ToleratedFailurePercentage',
      'ToleratedFailurePercentagePath',
      'ToleratedFailureCount',
      'ToleratedFailureCountPath',
      'Label',
    ]) {
      if (!distributed && field in value)
        this.problem(`${where}.${field}`, 'applies only to a Map in DISTRIBUTED mode');
    }
    const selectorField = 'Parameters' in value ? 'Parameters' : 'ItemSelector';
    const itemSelector = this.template(value, selectorField, where);
    const itemsPath = value.ItemsPath === undefined ? undefined : this.path(value.ItemsPath, `${where}.ItemsPath`);
    if (itemsPath && 'ItemReader' in value)
      this.problem(`${where}.ItemsPath`, 'cannot be used together with ItemReader');
    const maxConcurrency = this.optionalInteger(value, 'MaxConcurrency', where, 0);
    const maxConcurrencyPath = this.optionalReferencePath(value, 'MaxConcurrencyPath', where);
    if (maxConcurrency !== undefined && maxConcurrencyPath !== undefined) {
      this.problem(where, 'has both "MaxConcurrency" and "MaxConcurrencyPath"; use one');
    }
    const percentage = value.ToleratedFailurePercentage;
    if (percentage !== undefined && (typeof percentage !== 'number' || percentage < 0 || percentage > 100)) {
      this.problem(`${where}.ToleratedFailurePercentage`, 'must be a number from 0 to 100');
    }
    const count = this.optionalInteger(value, 'ToleratedFailureCount', where, 0);
    const percentagePath = this.optionalReferencePath(value, 'ToleratedFailurePercentagePath', where);
    const countPath = this.optionalReferencePath(value, 'ToleratedFailureCountPath', where);
    if (
      value.Label !== undefined &&
      (typeof value.Label !== 'string' || !/^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,40}$/.test(value.Label))
    ) {
      this.problem(`${where}.Label`, 'must be at most 40 characters, without white space or special characters');
    }
    const itemReader =
      value.ItemReader === undefined ? undefined : this.itemReader(value.ItemReader, `${where}.ItemReader`);
    const itemBatcher =
      value.ItemBatcher === undefined ? undefined : this.itemBatcher(value.ItemBatcher, `${where}.ItemBatcher`);
    const resultWriter =
      value.ResultWriter === undefined ? undefined : this.resultWriter(value.ResultWriter, `${where}.ResultWriter`);
    return {
      Type: 'Map',
      ...common,
      ...this.transition(value, where, names),
      ...this.resultHandling(value, where, names),
      ItemProcessor: processor,
      ...(itemsPath ? { ItemsPath: value.ItemsPath as string } : {}),
      ...(itemSelector === undefined ? {} : { ItemSelector: itemSelector }),
      ...(maxConcurrency === undefined ? {} : { MaxConcurrency: maxConcurrency }),
      ...(maxConcurrencyPath === undefined ? {} : { MaxConcurrencyPath: maxConcurrencyPath }),
      ...(itemReader === undefined ? {} : { ItemReader: itemReader }),
      ...(itemBatcher === undefined ? {} : { ItemBatcher: itemBatcher }),
      ...(resultWriter === undefined ? {} : { ResultWriter: resultWriter }),
      ...(typeof percentage === 'number' ? { ToleratedFailurePercentage: percentage } : {}),
      ...(percentagePath === undefined ? {} : { ToleratedFailurePercentagePath: percentagePath }),
      ...(count === undefined ? {} : { ToleratedFailureCount: count }),
      ...(countPath === undefined ? {} : { ToleratedFailureCountPath: countPath }),
      ...(typeof value.Label === 'string' ? { Label: value.Label } : {}),
    };
  }

  private itemReader(value: unknown, where: string): ItemReaderConfig | undefined {
    if (!isPlainObject(value)) {
      this.problem(where, 'must be an object with Resource, Parameters and ReaderConfig');
      return undefined;
    }
    this.onlyFields(value, ['Resource', 'Parameters', 'ReaderConfig'], where);
    const match = typeof value.Resource === 'string' ? S3_READER.exec(value.Resource) : null;
    if (!match) {
      this.problem(
        `${where}.Resource`,
        'the local engine reads items with arn:aws:states:::s3:listObjectsV2 or arn:aws:states:::s3:getObject only',
      );
      return undefined;
    }
    const action = match[1] as 'listObjectsV2' | 'getObject';
    if (!this.options.s3)
      this.problem(`${where}.Resource`, "reading items from S3 needs the engine's s3 client option");
    const parameters = this.template(value, 'Parameters', where) ?? {};
    const allowedParameters = action === 'listObjectsV2' ? ['Bucket', 'Prefix'] : ['Bucket', 'Key', 'VersionId'];
    this.onlyFields(
      parameters,
      allowedParameters.flatMap((p) => [p, `${p}.$`]),
      `${where}.Parameters`,
    );
    if (!('Bucket' in parameters) && !('Bucket.$' in parameters))
      this.problem(`${where}.Parameters.Bucket`, 'is required');
    if (action === 'getObject' && !('Key' in parameters) && !('Key.$' in parameters)) {
      this.problem(`${where}.Parameters.Key`, 'is required with s3:getObject');
    }
    const config = value.ReaderConfig ?? {};
    if (!isPlainObject(config)) {
      this.problem(`${where}.ReaderConfig`, 'must be an object');
      return undefined;
    }
    const at = `${where}.ReaderConfig`;
    this.onlyFields(
      config,
      ['InputType', 'CSVHeaderLocation', 'CSVHeaders', 'CSVDelimiter', 'MaxItems', 'MaxItemsPath'],
      at,
    );
    const inputType = config.InputType;
    if (action === 'getObject') {
      if (inputType === 'MANIFEST' || inputType === 'PARQUET') {
        this.problem(
          `${at}.InputType`,
          `${inputType} input is not supported by the local engine (JSON, JSONL and CSV are)`,
        );
      } else if (inputType !== 'JSON' && inputType !== 'JSONL' && inputType !== 'CSV') {
        this.problem(`${at}.InputType`, 'is required with s3:getObject: JSON, JSONL or CSV');
      }
    } else if (inputType !== undefined) {
      this.problem(`${at}.InputType`, 'does not apply to s3:listObjectsV2');
    }
    if (inputType === 'CSV') {
      if (config.CSVHeaderLocation !== 'FIRST_ROW' && config.CSVHeaderLocation !== 'GIVEN') {
        this.problem(`${at}.CSVHeaderLocation`, 'is required with CSV input: FIRST_ROW or GIVEN');
      }
      if (config.CSVHeaderLocation === 'GIVEN') {
        if (
          !Array.isArray(config.CSVHeaders) ||
          config.CSVHeaders.some((h) => typeof h !== 'string') ||
          config.CSVHeaders.length === 0
        ) {
          this.problem(`${at}.CSVHeaders`, 'is required with CSVHeaderLocation GIVEN: an array of column names');
        }
      } else if (config.CSVHeaders !== undefined) {
        this.problem(`${at}.CSVHeaders`, 'applies only with CSVHeaderLocation GIVEN');
      }
      if (
        config.CSVDelimiter !== undefined &&
        !['COMMA', 'PIPE', 'SEMICOLON', 'SPACE', 'TAB'].includes(config.CSVDelimiter as string)
      ) {
        this.problem(`${at}.CSVDelimiter`, 'must be COMMA, PIPE, SEMICOLON, SPACE or TAB');
      }
    } else {
      for (const field of ['CSVHeaderLocation', 'CSVHeaders', 'CSVDelimiter']) {
        if (field in config) this.problem(`${at}.${field}`, 'applies only to CSV input');
      }
    }
    const maxItems = this.optionalInteger(config, 'MaxItems', at, 0);
    const maxItemsPath = this.optionalReferencePath(config, 'MaxItemsPath', at);
    if (maxItems !== undefined && maxItemsPath !== undefined)
      this.problem(at, 'has both "MaxItems" and "MaxItemsPath"; use one');
    return {
      Resource: value.Resource as string,
      action,
      Parameters: parameters,
      ReaderConfig: config as ItemReaderConfig['ReaderConfig'],
    };
  }

  private itemBatcher(value: unknown, where: string): ItemBatcherConfig | undefined {
    if (!isPlainObject(value)) {
      this.problem(where, 'must be an object');
      return undefined;
    }
    this.onlyFields(
      value,
      ['MaxItemsPerBatch', 'MaxItemsPerBatchPath', 'MaxInputBytesPerBatch', 'MaxInputBytesPerBatchPath', 'BatchInput'],
      where,
    );
    const items = this.optionalInteger(value, 'MaxItemsPerBatch', where, 1);
    const bytes = this.optionalInteger(value, 'MaxInputBytesPerBatch', where, 1);
    // "MaxInputBytesPerBatch ... the maximum size of a batch is 256 KiB" (ItemBatcher (Map) in the Developer Guide).
    if (bytes !== undefined && bytes > 262_144)
      this.problem(`${where}.MaxInputBytesPerBatch`, 'must be at most 262144 (256 KiB)');
    const itemsPath = this.optionalReferencePath(value, 'MaxItemsPerBatchPath', where);
    const bytesPath = this.optionalReferencePath(value, 'MaxInputBytesPerBatchPath', where);
    if (items === undefined && bytes === undefined && itemsPath === undefined && bytesPath === undefined) {
      this.problem(where, 'needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)');
    }
    this.template(value, 'BatchInput', where);
    return value as ItemBatcherConfig;
  }

  private resultWriter(value: unknown, where: string): ResultWriterConfig | undefined {
    if (!isPlainObject(value)) {
      this.problem(where, 'must be an object');
      return undefined;
    }
    this.onlyFields(value, ['Resource', 'Parameters', 'WriterConfig'], where);
    const hasResource = value.Resource !== undefined;
    if (hasResource && (typeof value.Resource !== 'string' || !S3_WRITER.test(value.Resource))) {
      this.problem(`${where}.Resource`, 'the local engine writes results with arn:aws:states:::s3:putObject only');
    }
    if (hasResource !== (value.Parameters !== undefined)) this.problem(where, 'Resource and Parameters go together');
    if (!hasResource && value.WriterConfig === undefined)
      this.problem(where, 'needs Resource and Parameters, or WriterConfig');
    const parameters = this.template(value, 'Parameters', where);
    if (hasResource && !this.options.s3)
      this.problem(`${where}.Resource`, "writing results to S3 needs the engine's s3 client option");
    if (parameters !== undefined) {
      this.onlyFields(parameters, ['Bucket', 'Bucket.$', 'Prefix', 'Prefix.$'], `${where}.Parameters`);
      if (!('Bucket' in parameters) && !('Bucket.$' in parameters))
        this.problem(`${where}.Parameters.Bucket`, 'is required');
    }
    if (value.WriterConfig !== undefined) {
      const config = value.WriterConfig;
      if (!isPlainObject(config)) this.problem(`${where}.WriterConfig`, 'must be an object');
      else {
        this.onlyFields(config, ['Transformation', 'OutputType'], `${where}.WriterConfig`);
        if (
          config.Transformation !== undefined &&
          !['NONE', 'COMPACT', 'FLATTEN'].includes(config.Transformation as string)
        ) {
          this.problem(`${where}.WriterConfig.Transformation`, 'must be NONE, COMPACT or FLATTEN');
        }
        if (config.OutputType !== undefined && !['JSON', 'JSONL'].includes(config.OutputType as string)) {
          this.problem(`${where}.WriterConfig.OutputType`, 'must be JSON or JSONL');
        }
      }
    }
    return value as ResultWriterConfig;
  }

  private resultHandling(value: Record<string, unknown>, where: string, names: ReadonlySet<string>): ResultHandling {
    const resultPath = this.resultPath(value, where);
    const selector = this.template(value, 'ResultSelector', where);
    const retry = value.Retry === undefined ? undefined : this.retriers(value.Retry, `${where}.Retry`);
    const catchers = value.Catch === undefined ? undefined : this.catchers(value.Catch, `${where}.Catch`, names);
    return {
      ...(resultPath === undefined ? {} : { ResultPath: resultPath }),
      ...(selector === undefined ? {} : { ResultSelector: selector }),
      ...(retry === undefined ? {} : { Retry: retry }),
      ...(catchers === undefined ? {} : { Catch: catchers }),
    };
  }

  private retriers(value: unknown, where: string): Retrier[] {
    if (!Array.isArray(value)) {
      this.problem(where, 'must be an array of retriers');
      return [];
    }
    return value.map((retrier, i) => {
      const at = `${where}[${i}]`;
      if (!isPlainObject(retrier)) {
        this.problem(at, 'a retrier must be an object');
        return { ErrorEquals: [], IntervalSeconds: 1, MaxAttempts: 0, BackoffRate: 2, JitterStrategy: 'NONE' };
      }
      this.onlyFields(
        retrier,
        [
          'ErrorEquals',
          'IntervalSeconds',
          'MaxAttempts',
          'BackoffRate',
          'MaxDelaySeconds',
          'JitterStrategy',
          'Comment',
        ],
        at,
      );
      const errors = this.errorEquals(retrier.ErrorEquals, `${at}.ErrorEquals`, i === value.length - 1);
      const interval = this.optionalInteger(retrier, 'IntervalSeconds', at, 1) ?? 1;
      const attempts = this.optionalInteger(retrier, 'MaxAttempts', at, 0) ?? 3;
      const backoff = retrier.BackoffRate ?? 2;
      if (typeof backoff !== 'number' || backoff < 1)
        this.problem(`${at}.BackoffRate`, 'must be a number of at least 1.0');
      const maxDelay = this.optionalInteger(retrier, 'MaxDelaySeconds', at, 1);
      const jitter = retrier.JitterStrategy ?? 'NONE';
      if (jitter !== 'FULL' && jitter !== 'NONE') this.problem(`${at}.JitterStrategy`, 'must be FULL or NONE');
      return {
        ErrorEquals: errors,
        IntervalSeconds: interval,
        MaxAttempts: attempts,
        BackoffRate: typeof backoff === 'number' ? backoff : 2,
        ...(maxDelay === undefined ? {} : { MaxDelaySeconds: maxDelay }),
        JitterStrategy: jitter === 'FULL' ? 'FULL' : 'NONE',
      };
    });
  }

  private catchers(value: unknown, where: string, names: ReadonlySet<string>): Catcher[] {
    if (!Array.isArray(value)) {
      this.problem(where, 'must be an array of catchers');
      return [];
    }
    return value.map((catcher, i) => {
      const at = `${where}[${i}]`;
      if (!isPlainObject(catcher)) {
        this.problem(at, 'a catcher must be an object');
        return { ErrorEquals: [], Next: '' };
      }
      this.onlyFields(catcher, ['ErrorEquals', 'Next', 'ResultPath', 'Comment'], at);
      const errors = this.errorEquals(catcher.ErrorEquals, `${at}.ErrorEquals`, i === value.length - 1);
      this.target(catcher.Next, `${at}.Next`, names);
      const resultPath = this.resultPath(catcher, at);
      return {
        ErrorEquals: errors,
        Next: catcher.Next as string,
        ...(resultPath === undefined ? {} : { ResultPath: resultPath }),
      };
    });
  }

  private errorEquals(value: unknown, where: string, last: boolean): string[] {
    if (!Array.isArray(value) || value.length === 0 || value.some((e) => typeof e !== 'string' || e === '')) {
      this.problem(where, 'must be a non-empty array of error names');
      return [];
    }
    if (value.includes('States.ALL')) {
      // "States.ALL must appear alone in its ErrorEquals array and in the last retrier/catcher" (ASL spec).
      if (value.length !== 1) this.problem(where, '"States.ALL" must appear alone');
      if (!last) this.problem(where, '"States.ALL" must be in the last retrier or catcher');
    }
    return value as string[];
  }

  private resultPath(value: Record<string, unknown>, where: string): string | null | undefined {
    if (!('ResultPath' in value)) return undefined;
    const v = value.ResultPath;
    if (v === null) return null;
    const path = this.path(v, `${where}.ResultPath`);
    if (path && !isReferencePath(path)) {
      this.problem(`${where}.ResultPath`, 'must be a reference path ($, $.a.b, $[0]) with no wildcards, filters or $$');
    }
    return v as string;
  }

  private template(value: Record<string, unknown>, field: string, where: string): PayloadTemplate | undefined {
    if (!(field in value)) return undefined;
    const template = value[field];
    if (!isPlainObject(template)) {
      this.problem(`${where}.${field}`, 'must be a JSON object');
      return undefined;
    }
    checkPayloadTemplate(template, `${where}.${field}`, this.problems);
    return template;
  }

  private path(value: unknown, where: string): JsonPath | undefined {
    if (typeof value !== 'string') {
      this.problem(where, 'must be a path string starting with "$"');
      return undefined;
    }
    if (value.startsWith('{%')) {
      this.problem(where, UNSUPPORTED_FIELDS.Output as string);
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

  private optionalReferencePath(value: Record<string, unknown>, field: string, where: string): string | undefined {
    if (value[field] === undefined) return undefined;
    const path = this.path(value[field], `${where}.${field}`);
    if (path && !path.definite) this.problem(`${where}.${field}`, 'must be a reference path');
    return path ? (value[field] as string) : undefined;
  }

  private optionalInteger(
    value: Record<string, unknown>,
    field: string,
    where: string,
    min: number,
  ): number | undefined {
    const v = value[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      this.problem(`${where}.${field}`, `must be an integer of at least ${min}`);
      return undefined;
    }
    return v;
  }

  private onlyFields(value: Record<string, unknown>, allowed: readonly string[], where: string, owner?: string): void {
    for (const key of Object.keys(value)) {
      if (allowed.includes(key)) continue;
      const known = owner ? `is not a field of ${owner}` : 'is not a field the local engine knows here';
      this.problem(`${where}.${key}`, UNSUPPORTED_FIELDS[key] ?? `${known}; remove it or fix its name`);
    }
  }

  /** A JSONata expression in a JSONPath state is a plain string to AWS, which would mislead; refuse it. */
  private jsonataStrings(value: Record<string, unknown>, where: string): void {
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'string' && v.startsWith('{%') && v.endsWith('%}')) {
        this.problem(`${where}.${key}`, UNSUPPORTED_FIELDS.Output as string);
      }
    }
  }
}

/** RFC 3339 as Step Functions accepts it: `2016-03-14T01:59:00Z`, with optional fraction and a `Z` or an offset. */
export function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
