/**
 * The definition check: refuses, before anything runs, what is not valid Amazon States Language or what the engine
 * does not implement, naming the state path and field of every problem, and returns the definition normalised
 * (legacy `Iterator` becomes `ItemProcessor`, a Map's `Parameters` becomes `ItemSelector`, Retry defaults are filled
 * in, Choice rules compiled) and frozen. The state types are in `asl.ts`; Choice rules, Map fields, and Retry/Catch
 * are checked by `choice-rules.ts`, `map-checks.ts` and `retry-catch.ts`, which share `field-checks.ts`.
 */
import type {
  Common,
  FailState,
  MapState,
  ParallelState,
  PassState,
  PayloadTemplate,
  State,
  StateMachineDefinition,
  StateMachineGraph,
  TaskState,
  Transition,
  WaitState,
} from './asl.ts';
import { parseTimestamp } from './asl.ts';
import { checkChoiceRules } from './choice-rules.ts';
import { DefinitionError } from './engine-errors.ts';
import { FieldChecker } from './field-checks.ts';
import { isPlainObject } from './json-path.ts';
import { checkMapFields, DISTRIBUTED_ONLY_FIELDS } from './map-checks.ts';
import { checkDynamicValue } from './payload-template.ts';
import { checkResultHandling } from './retry-catch.ts';

/** What the check asks of the engine about task resources. */
export interface DefinitionCheckOptions {
  /** Problems with a Task's resource and parameters; an empty list when an integration takes it. */
  readonly checkTask: (resource: string, parameters: PayloadTemplate | undefined, where: string) => string[];
  /** Whether an S3 client is there for ItemReader and ResultWriter. */
  readonly s3: boolean;
}

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
    ...DISTRIBUTED_ONLY_FIELDS,
  ],
};

/**
 * Checks and normalises a definition (an object as `cdk synth` emits it, CloudFormation references already
 * resolved, or its JSON text). Throws {@link DefinitionError} listing every problem; nothing is silently ignored.
 */
/**
 * Checks and normalises a definition (an object as `cdk synth` emits it, CloudFormation references already
 * resolved, or its JSON text). Throws {@link DefinitionError} listing every problem; nothing is silently ignored.
 */
export function parseDefinition(raw: unknown, options: DefinitionCheckOptions): StateMachineDefinition {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new DefinitionError([`the definition is not JSON: ${(error as Error).message}`]);
    }
  }
  if (!isPlainObject(value)) throw new DefinitionError(['the definition must be a JSON object']);
  const checker = new Checker(options);
  const definition = checker.topLevel(value);
  if (checker.check.problems.length > 0) throw new DefinitionError(checker.check.problems);
  return deepFreeze(definition);
}

class Checker {
  readonly check = new FieldChecker();

  constructor(private readonly options: DefinitionCheckOptions) {}

  topLevel(value: Record<string, unknown>): StateMachineDefinition {
    const where = '(top level)';
    this.check.queryLanguage(value, where);
    this.check.onlyFields(value, ['StartAt', 'States', 'Comment', 'Version', 'TimeoutSeconds', 'QueryLanguage'], where);
    if (value.Version !== undefined && value.Version !== '1.0') this.check.problem(`${where}.Version`, 'must be "1.0"');
    const timeout = this.check.optionalInteger(value, 'TimeoutSeconds', where, 1);
    const graph = this.graph(value, '');
    return {
      ...graph,
      ...(typeof value.Comment === 'string' ? { Comment: value.Comment } : {}),
      ...(timeout === undefined ? {} : { TimeoutSeconds: timeout }),
    };
  }

  /** `prefix` is '' for the top level, or e.g. `States.Fan.ItemProcessor.` for a nested graph. */
  private graph(value: Record<string, unknown>, prefix: string): StateMachineGraph {
    const states: Record<string, State> = {};
    const where = prefix === '' ? '(top level)' : prefix.slice(0, -1);
    if (typeof value.StartAt !== 'string')
      this.check.problem(`${where}.StartAt`, 'is required and must be a state name');
    if (!isPlainObject(value.States) || Object.keys(value.States).length === 0) {
      this.check.problem(`${where}.States`, 'is required and must name at least one state');
      return { StartAt: String(value.StartAt), States: states };
    }
    const names = new Set(Object.keys(value.States));
    if (typeof value.StartAt === 'string' && !names.has(value.StartAt)) {
      this.check.problem(`${where}.StartAt`, `names "${value.StartAt}", which is not in States`);
    }
    for (const [name, state] of Object.entries(value.States)) {
      if (name.length > 80) this.check.problem(`${prefix}States.${name}`, 'a state name is at most 80 characters');
      const checked = this.state(state, `${prefix}States.${name}`, names);
      if (checked) states[name] = checked;
    }
    return { StartAt: value.StartAt as string, States: states };
  }

  private state(value: unknown, where: string, names: ReadonlySet<string>): State | undefined {
    if (!isPlainObject(value)) {
      this.check.problem(where, 'a state must be a JSON object');
      return undefined;
    }
    this.check.queryLanguage(value, where);
    const type = value.Type;
    if (typeof type !== 'string' || !(type in FIELDS)) {
      this.check.problem(`${where}.Type`, `must be one of ${Object.keys(FIELDS).join(', ')}`);
      return undefined;
    }
    const stateType = type as State['Type'];
    this.check.onlyFields(value, [...(FIELDS[stateType] ?? []), 'QueryLanguage'], where, `a ${stateType} state`);
    this.check.jsonataStrings(value, where);
    const common = this.common(value, where, stateType !== 'Fail');
    switch (stateType) {
      case 'Pass':
        return this.pass(value, where, names, common);
      case 'Task':
        return this.task(value, where, names, common);
      case 'Choice':
        return { Type: 'Choice', ...common, ...checkChoiceRules(this.check, value, where, names) };
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
      else if (this.check.path(v, `${where}.${field}`)) out[field] = v as string;
    }
    return out;
  }

  private transition(value: Record<string, unknown>, where: string, names: ReadonlySet<string>): Transition {
    const hasNext = value.Next !== undefined;
    const hasEnd = value.End !== undefined;
    if (hasNext === hasEnd) {
      this.check.problem(where, 'needs exactly one of "Next" and "End": true');
      return {};
    }
    if (hasEnd) {
      if (value.End !== true) this.check.problem(`${where}.End`, 'must be true when present');
      return { End: true };
    }
    this.check.target(value.Next, `${where}.Next`, names);
    return { Next: value.Next as string };
  }

  private pass(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): PassState {
    const resultPath = this.check.resultPath(value, where);
    const parameters = this.check.template(value, 'Parameters', where);
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
    const parameters = this.check.template(value, 'Parameters', where);
    if (typeof value.Resource !== 'string')
      this.check.problem(`${where}.Resource`, 'is required and must be an ARN string');
    else {
      for (const problem of this.options.checkTask(value.Resource, parameters, where))
        this.check.problems.push(problem);
    }
    const timeout = this.check.optionalInteger(value, 'TimeoutSeconds', where, 1);
    const heartbeat = this.check.optionalInteger(value, 'HeartbeatSeconds', where, 1);
    const timeoutPath = this.check.optionalReferencePath(value, 'TimeoutSecondsPath', where);
    const heartbeatPath = this.check.optionalReferencePath(value, 'HeartbeatSecondsPath', where);
    if (timeout !== undefined && timeoutPath !== undefined) {
      this.check.problem(where, 'has both "TimeoutSeconds" and "TimeoutSecondsPath"; use one');
    }
    if (heartbeat !== undefined && heartbeatPath !== undefined) {
      this.check.problem(where, 'has both "HeartbeatSeconds" and "HeartbeatSecondsPath"; use one');
    }
    if (timeout !== undefined && heartbeat !== undefined && heartbeat >= timeout) {
      this.check.problem(`${where}.HeartbeatSeconds`, 'must be smaller than TimeoutSeconds');
    }
    return {
      Type: 'Task',
      ...common,
      ...this.transition(value, where, names),
      ...checkResultHandling(this.check, value, where, names),
      Resource: value.Resource as string,
      ...(parameters === undefined ? {} : { Parameters: parameters }),
      ...(timeout === undefined ? {} : { TimeoutSeconds: timeout }),
      ...(timeoutPath === undefined ? {} : { TimeoutSecondsPath: timeoutPath }),
      ...(heartbeat === undefined ? {} : { HeartbeatSeconds: heartbeat }),
      ...(heartbeatPath === undefined ? {} : { HeartbeatSecondsPath: heartbeatPath }),
    };
  }

  private wait(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): WaitState {
    const given = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((field) => field in value);
    if (given.length !== 1)
      this.check.problem(
        where,
        `needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath; found ${given.length}`,
      );
    const seconds = this.check.optionalInteger(value, 'Seconds', where, 0);
    if (value.Timestamp !== undefined && (typeof value.Timestamp !== 'string' || !parseTimestamp(value.Timestamp))) {
      this.check.problem(`${where}.Timestamp`, 'must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z');
    }
    const secondsPath = this.check.optionalReferencePath(value, 'SecondsPath', where);
    const timestampPath = this.check.optionalReferencePath(value, 'TimestampPath', where);
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
        this.check.problem(where, `has both "${field}" and "${pathField}"; use one`);
      }
      if (value[field] !== undefined) {
        if (typeof value[field] !== 'string') this.check.problem(`${where}.${field}`, 'must be a string');
        else out[field] = value[field];
      }
      if (value[pathField] !== undefined) {
        // ErrorPath and CausePath take a reference path or an intrinsic function.
        checkDynamicValue(value[pathField], `${where}.${pathField}`, this.check.problems);
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
      this.check.problem(`${where}.Branches`, 'is required and must be a non-empty array');
    } else {
      value.Branches.forEach((branch, i) => {
        const at = `${where}.Branches[${i}]`;
        if (!isPlainObject(branch)) this.check.problem(at, 'a branch must be a JSON object with StartAt and States');
        else {
          this.check.queryLanguage(branch, at);
          this.check.onlyFields(branch, ['StartAt', 'States', 'Comment', 'QueryLanguage'], at);
          branches.push(this.graph(branch, `${at}.`));
        }
      });
    }
    const parameters = this.check.template(value, 'Parameters', where);
    return {
      Type: 'Parallel',
      ...common,
      ...this.transition(value, where, names),
      ...checkResultHandling(this.check, value, where, names),
      Branches: branches,
      ...(parameters === undefined ? {} : { Parameters: parameters }),
    };
  }

  private map(value: Record<string, unknown>, where: string, names: ReadonlySet<string>, common: Common): MapState {
    const fields = checkMapFields(this.check, value, where, {
      s3: this.options.s3,
      graph: (graph, prefix) => this.graph(graph, prefix),
    });
    return {
      Type: 'Map',
      ...common,
      ...this.transition(value, where, names),
      ...checkResultHandling(this.check, value, where, names),
      ...fields,
    };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
