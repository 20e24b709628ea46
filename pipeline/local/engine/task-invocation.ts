/**
 * Task states: one attempt of a task, and the call to its integration raced against the task's time-outs
 * ("TimeoutSeconds", "HeartbeatSeconds" in the ASL specification) and the execution's end. A plain Lambda ARN records
 * the `LambdaFunction*` history events, any other resource the `Task*` events.
 */
import { randomUUID } from 'node:crypto';
import type { TaskState } from './asl.ts';
import { BranchAborted, ExecutionInterrupt, StatesError, StatesErrors } from './engine-errors.ts';
import type { EngineServices } from './engine-services.ts';
import type { ExecutionHistory } from './execution-history.ts';
import { type ContextObject, describeResource, isLambdaFunctionArn, type TaskIntegration } from './integrations.ts';
import { applyInputPath, positiveSeconds } from './io-paths.ts';
import { serialisePayload } from './payload-limit.ts';
import { evaluatePayloadTemplate } from './payload-template.ts';

/** What a task attempt needs of the execution running it. */
export interface TaskAttemptScope {
  readonly services: EngineServices;
  readonly history: ExecutionHistory;
  readonly executionArn: string;
  /** The context object of this attempt; `extra` adds `Task.Token` for callback resources. */
  context(extra: Partial<ContextObject>): ContextObject;
}

/**
 * One attempt of a Task state, from InputPath to the task result (before ResultSelector): Parameters with the
 * context object, TimeoutSeconds(Path) and HeartbeatSeconds(Path), the payload quota, the call to the integration
 * and the history events around it. Throws the task's {@link StatesError} for Retry and Catch.
 */
export async function runTaskAttempt(
  run: TaskAttemptScope,
  name: string,
  state: TaskState,
  input: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  const { services, history } = run;
  const integration = services.integrations.find(state.Resource);
  if (integration === undefined) throw new StatesError(StatesErrors.Runtime, `no integration runs ${state.Resource}`);
  const effective = applyInputPath(input, state.InputPath);
  const callback = state.Resource.endsWith('.waitForTaskToken');
  const taskToken = callback ? randomUUID() : undefined;
  const context = run.context(taskToken ? { Task: { Token: taskToken } } : {});
  const parameters = state.Parameters
    ? evaluatePayloadTemplate(state.Parameters, { input: effective, context, runtime: services.intrinsics })
    : effective;
  const timeoutSeconds =
    state.TimeoutSeconds ?? positiveSeconds(state.TimeoutSecondsPath, effective, 'TimeoutSecondsPath');
  const heartbeatSeconds =
    state.HeartbeatSeconds ?? positiveSeconds(state.HeartbeatSecondsPath, effective, 'HeartbeatSecondsPath');
  const parametersText = serialisePayload(parameters, `The parameters of task '${name}'`);
  const lambda = isLambdaFunctionArn(state.Resource);
  const described = describeResource(state.Resource);
  const region = services.region;
  if (lambda) {
    history.record('LambdaFunctionScheduled', {
      lambdaFunctionScheduledEventDetails: {
        resource: state.Resource,
        input: parametersText,
        ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
      },
    });
    history.record('LambdaFunctionStarted');
  } else {
    history.record('TaskScheduled', {
      taskScheduledEventDetails: {
        ...described,
        region,
        parameters: parametersText,
        ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
        ...(heartbeatSeconds ? { heartbeatInSeconds: heartbeatSeconds } : {}),
      },
    });
    history.record('TaskStarted', { taskStartedEventDetails: described });
  }
  let result: unknown;
  try {
    const raw = await invokeIntegration(services, run.executionArn, integration, {
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
          history.record('TaskSubmitted', {
            taskSubmittedEventDetails: { ...described, output: JSON.stringify(output) },
          });
      },
    });
    const resultText = serialisePayload(raw, `The result of task '${name}'`);
    result = JSON.parse(resultText);
    if (lambda)
      history.record('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: { output: resultText } });
    else history.record('TaskSucceeded', { taskSucceededEventDetails: { ...described, output: resultText } });
  } catch (thrown) {
    if (thrown instanceof StatesError && !signal.aborted) recordTaskFailure(history, lambda, described, thrown);
    throw thrown;
  }
  return result;
}

function recordTaskFailure(
  history: ExecutionHistory,
  lambda: boolean,
  described: { resourceType: string; resource: string },
  error: StatesError,
): void {
  const body = { error: error.error, cause: error.cause };
  const timedOut = error.error === StatesErrors.Timeout || error.error === StatesErrors.HeartbeatTimeout;
  if (lambda && timedOut) history.record('LambdaFunctionTimedOut', { lambdaFunctionTimedOutEventDetails: body });
  else if (lambda) history.record('LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: body });
  else if (timedOut) history.record('TaskTimedOut', { taskTimedOutEventDetails: { ...described, ...body } });
  else history.record('TaskFailed', { taskFailedEventDetails: { ...described, ...body } });
}

/** The integration call raced against TimeoutSeconds, HeartbeatSeconds and the execution's end. */
async function invokeIntegration(
  services: EngineServices,
  executionArn: string,
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
  const { sleeper } = services;
  const task = new AbortController();
  // One listener on the execution's signal, removed when the attempt ends: it aborts the attempt's own signal, which
  // every guard below and the integration listen to instead.
  const onAbort = () => task.abort(call.signal.reason);
  if (call.signal.aborted) onAbort();
  else call.signal.addEventListener('abort', onAbort, { once: true });
  const guards: Promise<never>[] = [
    new Promise<never>((_, reject) => {
      const onTaskAbort = () => {
        // The attempt's own end ('the task ended', below) is not a failure of the work it raced.
        if (call.signal.aborted) reject(call.signal.reason);
      };
      if (task.signal.aborted) onTaskAbort();
      else task.signal.addEventListener('abort', onTaskAbort, { once: true });
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
        // One listener for the attempt, not one per heartbeat.
        task.signal.addEventListener('abort', () => beat?.abort(), { once: true });
        const arm = () => {
          beat?.abort();
          if (task.signal.aborted) return;
          const current = new AbortController();
          beat = current;
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
        executionArn,
        context: call.context,
        signal: task.signal,
        ...(call.timeoutSeconds === undefined ? {} : { timeoutSeconds: call.timeoutSeconds }),
        ...(call.taskToken === undefined ? {} : { taskToken: call.taskToken }),
        heartbeat: () => heartbeat(),
        submitted: call.onSubmitted,
        log: services.log,
      }),
    );
    return await Promise.race([work.catch((error: unknown) => Promise.reject(asTaskError(error))), ...guards]);
  } finally {
    call.signal.removeEventListener('abort', onAbort);
    task.abort(new BranchAborted('the task ended'));
  }
}

function asTaskError(error: unknown): unknown {
  if (error instanceof StatesError || error instanceof ExecutionInterrupt || error instanceof BranchAborted)
    return error;
  // An integration failed without naming an error: Step Functions' generic task failure.
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new StatesError(StatesErrors.TaskFailed, message);
}
