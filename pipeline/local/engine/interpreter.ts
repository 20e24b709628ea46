/**
 * Runs one execution of a checked definition: the states, input and output processing
 * (InputPath -> Parameters -> task -> ResultSelector -> ResultPath -> OutputPath, "Processing input and output in
 * Step Functions"), Retry and Catch, time-outs, the payload quota and the event history.
 *
 * History events, as the Step Functions console shows them for a Standard execution:
 * - the execution: `ExecutionStarted`, then one of `ExecutionSucceeded` / `ExecutionFailed` / `ExecutionAborted` /
 *   `ExecutionTimedOut`;
 * - every state: `<Type>StateEntered` and, unless it is a Fail state, `<Type>StateExited` (also after a Catch);
 * - a Task attempt: `TaskScheduled`, `TaskStarted`, (`TaskSubmitted` for `.sync` resources, when the integration
 *   reports it), then `TaskSucceeded` / `TaskFailed` / `TaskTimedOut`; a plain Lambda ARN records the
 *   `LambdaFunction*` events instead. A retry repeats the attempt's events; the back-off records nothing;
 * - Parallel: `ParallelStateStarted`, the branches' events, `ParallelStateSucceeded` / `ParallelStateFailed`;
 * - inline Map: `MapStateStarted`, per iteration `MapIterationStarted`, its events, `MapIterationSucceeded` /
 *   `MapIterationFailed` / `MapIterationAborted`, then `MapStateSucceeded` / `MapStateFailed`;
 * - Distributed Map: `MapStateStarted`, `MapRunStarted`, `MapRunSucceeded` / `MapRunFailed`, then
 *   `MapStateSucceeded` / `MapStateFailed`; child executions count in their own histories;
 * - a state cut short by a failing sibling branch or a stop: `TaskStateAborted`, `WaitStateAborted`,
 *   `MapStateAborted` or `ParallelStateAborted`.
 * `previousEventId` is the id before (AWS links parallel branches to their own predecessors instead).
 */

import type {
  ChoiceState,
  ExecutionType,
  FailState,
  MapState,
  ParallelState,
  PassState,
  State,
  StateMachineGraph,
  TaskState,
  WaitState,
} from './asl.ts';
import { parseTimestamp } from './asl.ts';
import { evaluateCondition } from './choice-rules.ts';
import { type MapRunChildRunner, runDistributedMap } from './distributed-map.ts';
import { ExecutionInterrupt, StatesError, StatesErrors, throwIfAborted } from './engine-errors.ts';
import type { EngineServices } from './engine-services.ts';
import type { ExecutionResult, ExecutionStatus } from './engine-types.ts';
import { ExecutionHistory, HISTORY_EVENT_LIMIT } from './execution-history.ts';
import { type FanOutOptions, fanOut } from './fan-out.ts';
import type { ContextObject } from './integrations.ts';
import { applyInputPath, applyOutputPath, applyResultPath, itemsOf, nonNegativeInteger, readPath } from './io-paths.ts';
import { serialisePayload } from './payload-limit.ts';
import { evaluateDynamicValue, evaluatePayloadTemplate, preview } from './payload-template.ts';
import { findCatcher, withRetry } from './retry-catch.ts';
import { runTaskAttempt } from './task-invocation.ts';

/** Who an execution is. */
export interface ExecutionScope {
  readonly arn: string;
  readonly name: string;
  readonly input: unknown;
  readonly startTime: Date;
  readonly stateMachine: { readonly arn: string; readonly name: string };
  readonly type: ExecutionType;
  readonly redriveCount: number;
  /** For a Distributed Map's child executions: the Map Run that started it. */
  readonly mapRunArn?: string;
}

/** "Maximum execution time: 5 minutes" for Express workflows (Quotas for Express Workflows). */
const EXPRESS_MAX_SECONDS = 300;

type StepOutcome = { readonly output: unknown; readonly next?: string };

export class ExecutionRun {
  readonly history: ExecutionHistory;
  private readonly controller = new AbortController();
  private state: ExecutionStatus = 'RUNNING';
  private result: ExecutionResult | undefined;

  constructor(
    private readonly services: EngineServices,
    readonly scope: ExecutionScope,
    private readonly graph: StateMachineGraph,
    private readonly timeoutSeconds: number | undefined,
    /** A child execution's Map Run: its abort stops this execution. */
    private readonly parentSignal?: AbortSignal,
  ) {
    // Express executions have no history quota and no retrievable history.
    this.history =
      scope.type === 'EXPRESS'
        ? new ExecutionHistory(services.clock, undefined, false)
        : new ExecutionHistory(services.clock, HISTORY_EVENT_LIMIT);
  }

  get status(): ExecutionStatus {
    return this.state;
  }

  /** Ends the execution as ABORTED (`StopExecution`); running tasks are abandoned. */
  stop(error?: string, cause?: string): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(new ExecutionInterrupt('ABORTED', error ?? '', cause ?? ''));
  }

  async run(): Promise<ExecutionResult> {
    const { scope, services } = this;
    const signal = this.controller.signal;
    const inputText = JSON.stringify(scope.input);
    let timer: AbortController | undefined;
    // Listened to while the execution runs only: the parent outlives its children, and would otherwise hold one
    // listener (and through it the whole child) per child execution it ever ran.
    const { parentSignal } = this;
    const onParentAbort = () => this.stop();
    if (parentSignal?.aborted) onParentAbort();
    else parentSignal?.addEventListener('abort', onParentAbort, { once: true });
    try {
      serialisePayload(scope.input, 'The execution input');
      this.history.record('ExecutionStarted', {
        executionStartedEventDetails: {
          input: inputText,
          inputDetails: { truncated: false },
          roleArn: services.roleArn,
        },
      });
      services.emit({ type: 'ExecutionStarted', executionArn: scope.arn, name: scope.name, ...this.mapRunField() });
      const limit =
        scope.type === 'EXPRESS'
          ? Math.min(this.timeoutSeconds ?? EXPRESS_MAX_SECONDS, EXPRESS_MAX_SECONDS)
          : this.timeoutSeconds;
      if (limit !== undefined) {
        timer = new AbortController();
        services.sleeper.sleep(limit * 1000, { reason: 'timeout', signal: timer.signal }).then(
          () =>
            this.controller.abort(
              new ExecutionInterrupt(
                'TIMED_OUT',
                StatesErrors.Timeout,
                `The execution ran longer than its ${limit} seconds`,
              ),
            ),
          () => undefined,
        );
      }
      const output = await this.runGraph(this.graph, scope.input, signal);
      throwIfAborted(signal);
      const outputText = serialisePayload(output, 'The execution output');
      this.history.record('ExecutionSucceeded', {
        executionSucceededEventDetails: { output: outputText, outputDetails: { truncated: false } },
      });
      return this.finish({ status: 'SUCCEEDED', output: JSON.parse(outputText) });
    } catch (thrown) {
      return this.finish(this.failure(thrown));
    } finally {
      timer?.abort();
      parentSignal?.removeEventListener('abort', onParentAbort);
    }
  }

  private failure(thrown: unknown): Omit<ExecutionResult, 'startDate' | 'stopDate'> {
    // A stop or time-out wins over whatever error it caused in the states still running.
    const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : undefined;
    const interrupt = thrown instanceof ExecutionInterrupt ? thrown : reason;
    if (interrupt instanceof ExecutionInterrupt) {
      if (!this.history.closed) {
        if (interrupt.status === 'ABORTED') {
          this.history.record('ExecutionAborted', {
            executionAbortedEventDetails: {
              ...(interrupt.error ? { error: interrupt.error } : {}),
              ...(interrupt.cause ? { cause: interrupt.cause } : {}),
            },
          });
        } else if (interrupt.status === 'TIMED_OUT') {
          this.history.record('ExecutionTimedOut', {
            executionTimedOutEventDetails: { error: interrupt.error, cause: interrupt.cause },
          });
        } else {
          this.history.record('ExecutionFailed', {
            executionFailedEventDetails: { error: interrupt.error, cause: interrupt.cause },
          });
        }
      }
      return {
        status: interrupt.status,
        ...(interrupt.error ? { error: interrupt.error } : {}),
        ...(interrupt.cause ? { cause: interrupt.cause } : {}),
      };
    }
    let error: string;
    let cause: string;
    if (thrown instanceof StatesError) {
      error = thrown.error;
      cause = thrown.cause;
    } else {
      // A bug in the engine or an integration that escaped: report it rather than hang.
      error = StatesErrors.Runtime;
      cause = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
      this.services.log.error('local engine internal error', { executionArn: this.scope.arn, error: cause });
    }
    if (!this.history.closed) {
      this.history.record('ExecutionFailed', { executionFailedEventDetails: { error, cause } });
    }
    return { status: 'FAILED', error, cause };
  }

  private finish(outcome: Omit<ExecutionResult, 'startDate' | 'stopDate'>): ExecutionResult {
    this.state = outcome.status;
    this.result = { ...outcome, startDate: this.scope.startTime, stopDate: this.services.clock.now() };
    this.services.emit({
      type: 'ExecutionEnded',
      executionArn: this.scope.arn,
      status: outcome.status,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
      ...this.mapRunField(),
    });
    return this.result;
  }

  private mapRunField(): { mapRunArn?: string } {
    return this.scope.mapRunArn === undefined ? {} : { mapRunArn: this.scope.mapRunArn };
  }

  /** Runs a graph (the machine, a branch, an iteration) from StartAt to a terminal state. */
  private async runGraph(graph: StateMachineGraph, input: unknown, signal: AbortSignal): Promise<unknown> {
    let name = graph.StartAt;
    let value = input;
    for (;;) {
      throwIfAborted(signal);
      const state = graph.States[name];
      if (state === undefined) throw new StatesError(StatesErrors.Runtime, `state "${name}" does not exist`);
      const entered = this.services.clock.now();
      const inputText = serialisePayload(value, `The input of state '${name}'`);
      this.history.record(`${state.Type}StateEntered`, {
        stateEnteredEventDetails: { name, input: inputText, inputDetails: { truncated: false } },
      });
      this.services.emit({
        type: 'StateEntered',
        executionArn: this.scope.arn,
        stateName: name,
        stateType: state.Type,
        ...this.mapRunField(),
      });
      let outcome: StepOutcome;
      try {
        outcome = await this.runState(name, state, value, entered, signal);
      } catch (thrown) {
        if (thrown instanceof StatesError && 'Catch' in state && state.Catch) {
          const catcher = findCatcher(state.Catch, thrown.error);
          if (catcher) {
            const errorOutput = { Error: thrown.error, Cause: thrown.cause };
            const output = applyResultPath(value, errorOutput, catcher.ResultPath);
            this.exited(name, state, serialisePayload(output, `The output of state '${name}'`));
            name = catcher.Next;
            value = output;
            continue;
          }
        }
        if (signal.aborted && isAbortable(state.Type)) this.recordAborted(state.Type);
        throw thrown;
      }
      if (state.Type !== 'Fail') {
        this.exited(name, state, serialisePayload(outcome.output, `The output of state '${name}'`));
      }
      if (outcome.next === undefined) return outcome.output;
      name = outcome.next;
      value = outcome.output;
    }
  }

  private exited(name: string, state: Exclude<State, FailState>, outputText: string): void {
    this.history.record(`${state.Type}StateExited`, {
      stateExitedEventDetails: { name, output: outputText, outputDetails: { truncated: false } },
    });
    this.services.emit({
      type: 'StateExited',
      executionArn: this.scope.arn,
      stateName: name,
      stateType: state.Type,
      ...this.mapRunField(),
    });
  }

  private recordAborted(type: 'Task' | 'Wait' | 'Map' | 'Parallel'): void {
    if (this.history.closed) return;
    try {
      this.history.record(`${type}StateAborted`);
    } catch {
      // The history quota ended the execution meanwhile; its ExecutionFailed is already recorded.
    }
  }

  private runState(
    name: string,
    state: State,
    input: unknown,
    entered: Date,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    switch (state.Type) {
      case 'Pass':
        return Promise.resolve(this.pass(name, state, input, entered));
      case 'Task':
        return withRetry(this.services, state.Retry, name, signal, (retryCount) =>
          this.task(name, state, input, entered, retryCount, signal),
        );
      case 'Choice':
        return Promise.resolve(this.choice(name, state, input, entered));
      case 'Wait':
        return this.wait(state, input, signal);
      case 'Succeed':
        return Promise.resolve({ output: applyOutputPath(applyInputPath(input, state.InputPath), state.OutputPath) });
      case 'Fail':
        return Promise.reject(this.fail(name, state, input, entered));
      case 'Parallel':
        return withRetry(this.services, state.Retry, name, signal, (retryCount) =>
          this.parallel(name, state, input, entered, retryCount, signal),
        );
      case 'Map':
        return withRetry(this.services, state.Retry, name, signal, (retryCount) =>
          this.map(name, state, input, entered, retryCount, signal),
        );
    }
  }

  context(stateName: string, entered: Date, retryCount: number, extra: Partial<ContextObject> = {}): ContextObject {
    const { scope } = this;
    return {
      Execution: {
        Id: scope.arn,
        Input: scope.input,
        Name: scope.name,
        RoleArn: this.services.roleArn,
        StartTime: scope.startTime.toISOString(),
        RedriveCount: scope.redriveCount,
      },
      State: { EnteredTime: entered.toISOString(), Name: stateName, RetryCount: retryCount },
      StateMachine: { Id: scope.stateMachine.arn, Name: scope.stateMachine.name },
      ...extra,
    };
  }

  private scopeFor(input: unknown, context: ContextObject) {
    return { input, context, runtime: this.services.intrinsics };
  }

  private pass(name: string, state: PassState, input: unknown, entered: Date): StepOutcome {
    let effective = applyInputPath(input, state.InputPath);
    if (state.Parameters)
      effective = evaluatePayloadTemplate(state.Parameters, this.scopeFor(effective, this.context(name, entered, 0)));
    const result = 'Result' in state ? state.Result : effective;
    const output = applyOutputPath(applyResultPath(input, result, state.ResultPath), state.OutputPath);
    return { output, ...next(state) };
  }

  private choice(name: string, state: ChoiceState, input: unknown, entered: Date): StepOutcome {
    const effective = applyInputPath(input, state.InputPath);
    const scope = { input: effective, context: this.context(name, entered, 0) };
    const matched = state.Choices.find((choice) => evaluateCondition(choice.condition, scope));
    const target = matched?.Next ?? state.Default;
    // "States.NoChoiceMatched: A Choice state failed to match the input to any Choice Rule and no Default is given."
    if (target === undefined) throw new StatesError(StatesErrors.NoChoiceMatched, 'No Matches!');
    return { output: applyOutputPath(effective, state.OutputPath), next: target };
  }

  private async wait(state: WaitState, input: unknown, signal: AbortSignal): Promise<StepOutcome> {
    const effective = applyInputPath(input, state.InputPath);
    let ms = 0;
    if (state.Seconds !== undefined) ms = state.Seconds * 1000;
    else if (state.SecondsPath !== undefined) {
      const seconds = readPath(state.SecondsPath, effective, 'SecondsPath');
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
        throw new StatesError(
          StatesErrors.Runtime,
          `The SecondsPath '${state.SecondsPath}' must select a non-negative integer, not ${preview(seconds)}`,
        );
      }
      ms = seconds * 1000;
    } else {
      const text = state.Timestamp ?? readPath(state.TimestampPath as string, effective, 'TimestampPath');
      const at = typeof text === 'string' ? parseTimestamp(text) : undefined;
      if (at === undefined) {
        throw new StatesError(
          StatesErrors.Runtime,
          `The Timestamp(Path) '${state.TimestampPath ?? state.Timestamp}' must select an RFC 3339 timestamp, not ${preview(text)}`,
        );
      }
      ms = Math.max(0, at - this.services.clock.now().getTime());
    }
    if (ms > 0) await this.services.sleeper.sleep(ms, { reason: 'wait', signal });
    return { output: applyOutputPath(effective, state.OutputPath), ...next(state) };
  }

  private fail(name: string, state: FailState, input: unknown, entered: Date): StatesError {
    const scope = this.scopeFor(input, this.context(name, entered, 0));
    const text = (literal: string | undefined, path: string | undefined, field: string): string => {
      if (literal !== undefined) return literal;
      if (path === undefined) return '';
      const value = evaluateDynamicValue(path, field, scope);
      if (typeof value !== 'string') {
        throw new StatesError(
          StatesErrors.Runtime,
          `The ${field} '${path}' of state '${name}' must select a string, not ${preview(value)}`,
        );
      }
      return value;
    };
    try {
      return new StatesError(
        text(state.Error, state.ErrorPath, 'ErrorPath'),
        text(state.Cause, state.CausePath, 'CausePath'),
      );
    } catch (error) {
      if (error instanceof StatesError) return error;
      throw error;
    }
  }

  private async task(
    name: string,
    state: TaskState,
    input: unknown,
    entered: Date,
    retryCount: number,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const result = await runTaskAttempt(
      {
        services: this.services,
        history: this.history,
        executionArn: this.scope.arn,
        context: (extra) => this.context(name, entered, retryCount, extra),
      },
      name,
      state,
      input,
      signal,
    );
    return this.finishResult(name, state, input, result, entered, retryCount);
  }

  /** ResultSelector -> ResultPath -> OutputPath, shared by Task, Parallel and Map. */
  private finishResult(
    name: string,
    state: TaskState | ParallelState | MapState,
    input: unknown,
    result: unknown,
    entered: Date,
    retryCount: number,
  ): StepOutcome {
    const selected = state.ResultSelector
      ? evaluatePayloadTemplate(state.ResultSelector, this.scopeFor(result, this.context(name, entered, retryCount)))
      : result;
    const output = applyOutputPath(applyResultPath(input, selected, state.ResultPath), state.OutputPath);
    return { output, ...next(state) };
  }

  private async parallel(
    name: string,
    state: ParallelState,
    input: unknown,
    entered: Date,
    retryCount: number,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    let effective = applyInputPath(input, state.InputPath);
    if (state.Parameters) {
      effective = evaluatePayloadTemplate(
        state.Parameters,
        this.scopeFor(effective, this.context(name, entered, retryCount)),
      );
    }
    serialisePayload(effective, `The input of state '${name}'`);
    this.history.record('ParallelStateStarted');
    const results = await fanOut(
      state.Branches.map((branch) => (branchSignal: AbortSignal) => this.runGraph(branch, effective, branchSignal)),
      Number.POSITIVE_INFINITY,
      signal,
      this.fanOutOptions(),
    ).catch((error: unknown) => {
      if (!this.history.closed && !(error instanceof ExecutionInterrupt)) this.history.record('ParallelStateFailed');
      throw error;
    });
    this.history.record('ParallelStateSucceeded');
    return this.finishResult(name, state, input, results, entered, retryCount);
  }

  private async map(
    name: string,
    state: MapState,
    input: unknown,
    entered: Date,
    retryCount: number,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const effective = applyInputPath(input, state.InputPath);
    const context = this.context(name, entered, retryCount);
    const maxConcurrency =
      state.MaxConcurrency ?? nonNegativeInteger(state.MaxConcurrencyPath, effective, 'MaxConcurrencyPath') ?? 0;
    if (state.ItemProcessor.ProcessorConfig.Mode === 'DISTRIBUTED') {
      this.history.record('MapStateStarted', { mapStateStartedEventDetails: { length: 0 } });
      try {
        const result = await runDistributedMap({
          services: this.services,
          parent: this.scope,
          history: this.history,
          stateName: name,
          state,
          effectiveInput: effective,
          context,
          maxConcurrency,
          signal,
          runChild: this.childRunner(state),
        });
        this.history.record('MapStateSucceeded');
        return this.finishResult(name, state, input, result, entered, retryCount);
      } catch (error) {
        if (!this.history.closed && !(error instanceof ExecutionInterrupt) && !signal.aborted)
          this.history.record('MapStateFailed');
        throw error;
      }
    }
    const items = itemsOf(state, effective);
    this.history.record('MapStateStarted', { mapStateStartedEventDetails: { length: items.length } });
    const inputs = items.map((item, index) =>
      state.ItemSelector
        ? evaluatePayloadTemplate(
            state.ItemSelector,
            this.scopeFor(effective, { ...context, Map: { Item: { Index: index, Value: item } } }),
          )
        : item,
    );
    const processor = state.ItemProcessor;
    const results = await fanOut(
      inputs.map((itemInput) => (iterationSignal: AbortSignal) => this.runGraph(processor, itemInput, iterationSignal)),
      maxConcurrency === 0 ? Number.POSITIVE_INFINITY : maxConcurrency,
      signal,
      this.fanOutOptions({
        started: (index) =>
          this.history.record('MapIterationStarted', { mapIterationStartedEventDetails: { name, index } }),
        succeeded: (index) =>
          this.history.record('MapIterationSucceeded', { mapIterationSucceededEventDetails: { name, index } }),
        failed: (index, aborted) => {
          if (aborted) this.history.record('MapIterationAborted', { mapIterationAbortedEventDetails: { name, index } });
          else this.history.record('MapIterationFailed', { mapIterationFailedEventDetails: { name, index } });
        },
      }),
    ).catch((error: unknown) => {
      if (!this.history.closed && !(error instanceof ExecutionInterrupt) && !signal.aborted)
        this.history.record('MapStateFailed');
      throw error;
    });
    this.history.record('MapStateSucceeded');
    return this.finishResult(name, state, input, results, entered, retryCount);
  }

  private fanOutOptions(onJob?: FanOutOptions['onJob']): FanOutOptions {
    return {
      concurrencyCap: this.services.concurrencyCap,
      historyClosed: () => this.history.closed,
      ...(onJob ? { onJob } : {}),
    };
  }

  /** Child executions of a Distributed Map: each its own execution, history and quota. */
  private childRunner(state: MapState): MapRunChildRunner {
    return async ({ scope, input, signal }) => {
      const child = new ExecutionRun(this.services, { ...scope, input }, state.ItemProcessor, undefined, signal);
      const result = await child.run();
      return { result, history: child.history };
    };
  }
}

function next(state: { Next?: string; End?: boolean }): { next?: string } {
  return state.Next === undefined ? {} : { next: state.Next };
}

function isAbortable(type: State['Type']): type is 'Task' | 'Wait' | 'Map' | 'Parallel' {
  return type === 'Task' || type === 'Wait' || type === 'Map' || type === 'Parallel';
}
