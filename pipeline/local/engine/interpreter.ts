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
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { evaluateCondition } from './choice-rules.ts';
import {
  type Catcher,
  type ChoiceState,
  type ExecutionType,
  type FailState,
  type MapState,
  type ParallelState,
  type PassState,
  parseTimestamp,
  type Retrier,
  type State,
  type StateMachineGraph,
  type TaskState,
  type WaitState,
} from './definition.ts';
import { type MapRunChildRunner, runDistributedMap } from './distributed-map.ts';
import { ExecutionInterrupt, StatesError, StatesErrors } from './engine-errors.ts';
import type { EngineServices, ExecutionResult, ExecutionStatus } from './engine-types.ts';
import { ExecutionHistory, HISTORY_EVENT_LIMIT } from './execution-history.ts';
import { type ContextObject, describeResource, isLambdaFunctionArn, type TaskIntegration } from './integrations.ts';
import { parseJsonPath, selectPath, writePath } from './json-path.ts';
import { serialisePayload } from './payload-limit.ts';
import { evaluateDynamicValue, evaluatePayloadTemplate, preview } from './payload-template.ts';

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

/** Thrown into the branches of a Parallel or Map whose sibling failed. */
class BranchAborted extends Error {
  override readonly name = 'BranchAborted';
}

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
    parentSignal?: AbortSignal,
  ) {
    // Express executions have no history quota and no retrievable history.
    this.history =
      scope.type === 'EXPRESS'
        ? new ExecutionHistory(services.clock, undefined, false)
        : new ExecutionHistory(services.clock, HISTORY_EVENT_LIMIT);
    if (parentSignal) {
      const onParentAbort = () => this.stop();
      if (parentSignal.aborted) onParentAbort();
      else parentSignal.addEventListener('abort', onParentAbort, { once: true });
    }
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
        return this.withRetry(state.Retry, name, signal, (retryCount) =>
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
        return this.withRetry(state.Retry, name, signal, (retryCount) =>
          this.parallel(name, state, input, entered, retryCount, signal),
        );
      case 'Map':
        return this.withRetry(state.Retry, name, signal, (retryCount) =>
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

  /** Runs one attempt after another while a retrier matches and has attempts left ("Retrying after an error"). */
  private async withRetry(
    retriers: readonly Retrier[] | undefined,
    name: string,
    signal: AbortSignal,
    attempt: (retryCount: number) => Promise<StepOutcome>,
  ): Promise<StepOutcome> {
    const used = new Map<Retrier, number>();
    let retryCount = 0;
    for (;;) {
      try {
        return await attempt(retryCount);
      } catch (thrown) {
        if (!(thrown instanceof StatesError) || !retriers) throw thrown;
        const retrier = retriers.find((r) => errorMatches(r.ErrorEquals, thrown.error));
        if (retrier === undefined) throw thrown;
        const count = used.get(retrier) ?? 0;
        if (count >= retrier.MaxAttempts) throw thrown;
        used.set(retrier, count + 1);
        const delayMs = retryDelayMs(retrier, count, this.services.intrinsics.random);
        this.services.log.debug('retrying state', { state: name, error: thrown.error, attempt: count + 1, delayMs });
        if (delayMs > 0) await this.services.sleeper.sleep(delayMs, { reason: 'retry', signal });
        throwIfAborted(signal);
        retryCount += 1;
      }
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
    const integration = this.services.integrations.find(state.Resource);
    if (integration === undefined) throw new StatesError(StatesErrors.Runtime, `no integration runs ${state.Resource}`);
    const effective = applyInputPath(input, state.InputPath);
    const callback = state.Resource.endsWith('.waitForTaskToken');
    const taskToken = callback ? randomUUID() : undefined;
    const context = this.context(name, entered, retryCount, taskToken ? { Task: { Token: taskToken } } : {});
    const parameters = state.Parameters
      ? evaluatePayloadTemplate(state.Parameters, this.scopeFor(effective, context))
      : effective;
    const timeoutSeconds =
      state.TimeoutSeconds ?? positiveSeconds(state.TimeoutSecondsPath, effective, 'TimeoutSecondsPath');
    const heartbeatSeconds =
      state.HeartbeatSeconds ?? positiveSeconds(state.HeartbeatSecondsPath, effective, 'HeartbeatSecondsPath');
    const parametersText = serialisePayload(parameters, `The parameters of task '${name}'`);
    const lambda = isLambdaFunctionArn(state.Resource);
    const described = describeResource(state.Resource);
    const region = this.services.region;
    if (lambda) {
      this.history.record('LambdaFunctionScheduled', {
        lambdaFunctionScheduledEventDetails: {
          resource: state.Resource,
          input: parametersText,
          ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
        },
      });
      this.history.record('LambdaFunctionStarted');
    } else {
      this.history.record('TaskScheduled', {
        taskScheduledEventDetails: {
          ...described,
          region,
          parameters: parametersText,
          ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
          ...(heartbeatSeconds ? { heartbeatInSeconds: heartbeatSeconds } : {}),
        },
      });
      this.history.record('TaskStarted', { taskStartedEventDetails: described });
    }
    let result: unknown;
    try {
      const raw = await this.invoke(integration, {
        resource: state.Resource,
        parameters: JSON.parse(parametersText),
        stateName: name,
        context,
        ...(timeoutSeconds ? { timeoutSeconds } : {}),
        ...(taskToken ? { taskToken } : {}),
        heartbeatSeconds,
        signal,
        onSubmitted: (output) => {
          if (!lambda)
            this.history.record('TaskSubmitted', {
              taskSubmittedEventDetails: { ...described, output: JSON.stringify(output) },
            });
        },
      });
      const resultText = serialisePayload(raw, `The result of task '${name}'`);
      result = JSON.parse(resultText);
      if (lambda)
        this.history.record('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: { output: resultText } });
      else this.history.record('TaskSucceeded', { taskSucceededEventDetails: { ...described, output: resultText } });
    } catch (thrown) {
      if (thrown instanceof StatesError && !signal.aborted) this.recordTaskFailure(lambda, described, thrown);
      throw thrown;
    }
    return this.finishResult(name, state, input, result, entered, retryCount);
  }

  private recordTaskFailure(
    lambda: boolean,
    described: { resourceType: string; resource: string },
    error: StatesError,
  ): void {
    const body = { error: error.error, cause: error.cause };
    const timedOut = error.error === StatesErrors.Timeout || error.error === StatesErrors.HeartbeatTimeout;
    if (lambda && timedOut) this.history.record('LambdaFunctionTimedOut', { lambdaFunctionTimedOutEventDetails: body });
    else if (lambda) this.history.record('LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: body });
    else if (timedOut) this.history.record('TaskTimedOut', { taskTimedOutEventDetails: { ...described, ...body } });
    else this.history.record('TaskFailed', { taskFailedEventDetails: { ...described, ...body } });
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

  /** The integration call raced against TimeoutSeconds, HeartbeatSeconds and the execution's end. */
  private async invoke(
    integration: TaskIntegration,
    call: {
      resource: string;
      parameters: unknown;
      stateName: string;
      context: ContextObject;
      timeoutSeconds?: number;
      taskToken?: string;
      heartbeatSeconds: number | undefined;
      signal: AbortSignal;
      onSubmitted: (output: unknown) => void;
    },
  ): Promise<unknown> {
    const { sleeper } = this.services;
    const task = new AbortController();
    const onAbort = () => task.abort(call.signal.reason);
    call.signal.addEventListener('abort', onAbort, { once: true });
    const guards: Promise<never>[] = [
      new Promise<never>((_, reject) => {
        if (call.signal.aborted) reject(call.signal.reason);
        call.signal.addEventListener('abort', () => reject(call.signal.reason), { once: true });
      }),
    ];
    if (call.timeoutSeconds !== undefined) {
      const seconds = call.timeoutSeconds;
      guards.push(
        sleeper.sleep(seconds * 1000, { reason: 'timeout', signal: task.signal }).then(() => {
          throw new StatesError(
            StatesErrors.Timeout,
            `The task '${call.stateName}' ran longer than its TimeoutSeconds (${seconds})`,
          );
        }),
      );
    }
    let heartbeat: () => void = () => undefined;
    if (call.heartbeatSeconds !== undefined) {
      const ms = call.heartbeatSeconds * 1000;
      guards.push(
        new Promise<never>((_, reject) => {
          let beat: AbortController | undefined;
          const arm = () => {
            beat?.abort();
            if (task.signal.aborted) return;
            const current = new AbortController();
            beat = current;
            task.signal.addEventListener('abort', () => current.abort(), { once: true });
            sleeper.sleep(ms, { reason: 'heartbeat', signal: current.signal }).then(
              () =>
                reject(
                  new StatesError(
                    StatesErrors.HeartbeatTimeout,
                    `The task '${call.stateName}' sent no heartbeat for ${call.heartbeatSeconds} seconds`,
                  ),
                ),
              () => undefined,
            );
          };
          heartbeat = arm;
          arm();
        }),
      );
    }
    for (const guard of guards) guard.catch(() => undefined);
    try {
      const work = Promise.resolve().then(() =>
        integration.invoke({
          resource: call.resource,
          parameters: call.parameters,
          stateName: call.stateName,
          executionArn: this.scope.arn,
          context: call.context,
          signal: task.signal,
          ...(call.timeoutSeconds === undefined ? {} : { timeoutSeconds: call.timeoutSeconds }),
          ...(call.taskToken === undefined ? {} : { taskToken: call.taskToken }),
          heartbeat: () => heartbeat(),
          submitted: call.onSubmitted,
          log: this.services.log,
        }),
      );
      return await Promise.race([work.catch((error: unknown) => Promise.reject(asTaskError(error))), ...guards]);
    } finally {
      call.signal.removeEventListener('abort', onAbort);
      task.abort(new BranchAborted('the task ended'));
    }
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
    const results = await this.fanOut(
      state.Branches.map((branch) => (branchSignal: AbortSignal) => this.runGraph(branch, effective, branchSignal)),
      Number.POSITIVE_INFINITY,
      signal,
    ).catch((error: unknown) => {
      if (!this.history.closed && !(error instanceof ExecutionInterrupt)) this.history.record('ParallelStateFailed');
      throw error;
    });
    this.history.record('ParallelStateSucceeded');
    return this.finishResult(name, state, input, results, entered, retryCount);
  }

  /**
   * Runs tasks with a concurrency bound; the first failure aborts the others (they see a BranchAborted) and is
   * rethrown once all have settled, so no branch records events after its parent failed.
   */
  private async fanOut<T>(
    jobs: readonly ((signal: AbortSignal) => Promise<T>)[],
    maxConcurrency: number,
    signal: AbortSignal,
    onJob?: {
      started(index: number): void;
      succeeded(index: number): void;
      failed(index: number, aborted: boolean): void;
    },
  ): Promise<T[]> {
    const controller = new AbortController();
    const onParent = () => controller.abort(signal.reason);
    if (signal.aborted) onParent();
    else signal.addEventListener('abort', onParent, { once: true });
    const limit = pLimit(Math.max(1, Math.min(maxConcurrency, this.services.concurrencyCap)));
    let firstError: unknown;
    const results = await Promise.allSettled(
      jobs.map((job, index) =>
        limit(async () => {
          throwIfAborted(controller.signal);
          onJob?.started(index);
          try {
            const value = await job(controller.signal);
            onJob?.succeeded(index);
            return value;
          } catch (error) {
            const aborted = controller.signal.aborted;
            if (!this.history.closed) onJob?.failed(index, aborted);
            if (firstError === undefined) {
              firstError = error;
              controller.abort(new BranchAborted('a sibling branch failed'));
            }
            throw error;
          }
        }),
      ),
    );
    signal.removeEventListener('abort', onParent);
    if (signal.aborted) throw signal.reason;
    if (firstError !== undefined) throw firstError;
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
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
    const results = await this.fanOut(
      inputs.map((itemInput) => (iterationSignal: AbortSignal) => this.runGraph(processor, itemInput, iterationSignal)),
      maxConcurrency === 0 ? Number.POSITIVE_INFINITY : maxConcurrency,
      signal,
      {
        started: (index) =>
          this.history.record('MapIterationStarted', { mapIterationStartedEventDetails: { name, index } }),
        succeeded: (index) =>
          this.history.record('MapIterationSucceeded', { mapIterationSucceededEventDetails: { name, index } }),
        failed: (index, aborted) => {
          if (aborted) this.history.record('MapIterationAborted', { mapIterationAbortedEventDetails: { name, index } });
          else this.history.record('MapIterationFailed', { mapIterationFailedEventDetails: { name, index } });
        },
      },
    ).catch((error: unknown) => {
      if (!this.history.closed && !(error instanceof ExecutionInterrupt) && !signal.aborted)
        this.history.record('MapStateFailed');
      throw error;
    });
    this.history.record('MapStateSucceeded');
    return this.finishResult(name, state, input, results, entered, retryCount);
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

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

function asTaskError(error: unknown): unknown {
  if (error instanceof StatesError || error instanceof ExecutionInterrupt || error instanceof BranchAborted)
    return error;
  // An integration failed without naming an error: Step Functions' generic task failure.
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new StatesError(StatesErrors.TaskFailed, message);
}

/**
 * Whether a retrier's or catcher's ErrorEquals matches an error name. `States.ALL` matches every error but the
 * terminal `States.DataLimitExceeded` and `States.Runtime`; `States.TaskFailed` matches every error but those and
 * `States.Timeout`; `States.Runtime` is never retried or caught ("Handling errors in Step Functions workflows").
 */
export function errorMatches(errorEquals: readonly string[], error: string): boolean {
  if (error === StatesErrors.Runtime) return false;
  return errorEquals.some((name) => {
    if (name === error) return true;
    if (error === StatesErrors.DataLimitExceeded) return false;
    if (name === StatesErrors.ALL) return true;
    return name === StatesErrors.TaskFailed && error !== StatesErrors.Timeout;
  });
}

function findCatcher(catchers: readonly Catcher[], error: string): Catcher | undefined {
  return catchers.find((catcher) => errorMatches(catcher.ErrorEquals, error));
}

/**
 * The back-off before retry number `count + 1` of one retrier: `IntervalSeconds * BackoffRate^count`, capped by
 * `MaxDelaySeconds`; with `JitterStrategy: FULL` a uniform random share of it ("Retrying after an error").
 */
export function retryDelayMs(retrier: Retrier, count: number, random: () => number): number {
  let seconds = retrier.IntervalSeconds * retrier.BackoffRate ** count;
  if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === 'FULL') seconds *= random();
  return Math.round(seconds * 1000);
}

function readPath(text: string, root: unknown, field: string): unknown {
  const selected = selectPath(parseJsonPath(text), root);
  if (!selected.found) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ${field} '${text}' could not be found in the input '${preview(root)}'`,
    );
  }
  return selected.value;
}

function positiveSeconds(path: string | undefined, root: unknown, field: string): number | undefined {
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

function applyOutputPath(output: unknown, path: string | null | undefined): unknown {
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

function itemsOf(state: MapState, effective: unknown): unknown[] {
  const items = state.ItemsPath === undefined ? effective : readPath(state.ItemsPath, effective, 'ItemsPath');
  if (!Array.isArray(items)) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ItemsPath '${state.ItemsPath ?? '$'}' of the Map state must select a JSON array, not ${preview(items)}`,
    );
  }
  return items;
}
