import { describe, expect, it } from 'vitest';
import { StatesError } from '../../pipeline/local/engine/engine-errors.ts';
import { HISTORY_EVENT_LIMIT } from '../../pipeline/local/engine/execution-history.ts';
import { serviceIntegration, type TaskInvocation } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine, type LocalEngineOptions } from '../../pipeline/local/engine/local-engine.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const FLAKY = 'arn:aws:states:::flaky:run';

/** An integration that fails with the given errors in turn, then returns the attempt number. */
function failing(errors: readonly string[], calls: TaskInvocation[] = []) {
  return serviceIntegration('flaky', [FLAKY], async (invocation) => {
    calls.push(invocation);
    const error = errors[calls.length - 1];
    if (error !== undefined) throw new StatesError(error, `attempt ${calls.length} failed`);
    return { attempt: calls.length, retryCount: invocation.context.State.RetryCount };
  });
}

function task(extra: Record<string, unknown>) {
  return { StartAt: 'Call', States: { Call: { Type: 'Task', Resource: FLAKY, End: true, ...extra } } };
}

async function run(definition: unknown, options: LocalEngineOptions, input: unknown = {}) {
  const sleeper = (options.sleeper as RecordingSleeper | undefined) ?? new RecordingSleeper();
  const execution = new LocalEngine({ sleeper, ...options }).startExecution({ definition, input });
  const result = await execution.result();
  return { result, history: execution.history(), sleeper };
}

describe('Retry', () => {
  it('retries with IntervalSeconds * BackoffRate^n and succeeds, counting $$.State.RetryCount', async () => {
    const { result, sleeper, history } = await run(
      task({ Retry: [{ ErrorEquals: ['Service.Busy'], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 3 }] }),
      { integrations: [failing(['Service.Busy', 'Service.Busy', 'Service.Busy'])] },
    );
    expect(result.output).toEqual({ attempt: 4, retryCount: 3 });
    expect(sleeper.delays('retry')).toEqual([2000, 6000, 18000]);
    expect(history.filter((event) => event.type === 'TaskScheduled')).toHaveLength(4);
    expect(history.filter((event) => event.type === 'TaskFailed')).toHaveLength(3);
  });

  it('gives up after MaxAttempts retries and fails with the last error', async () => {
    const calls: TaskInvocation[] = [];
    const { result } = await run(task({ Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 2 }] }), {
      integrations: [failing(['E1', 'E2', 'E3', 'E4'], calls)],
    });
    expect(result).toMatchObject({ status: 'FAILED', error: 'E3', cause: 'attempt 3 failed' });
    expect(calls).toHaveLength(3);
  });

  it('uses the defaults IntervalSeconds 1, BackoffRate 2, MaxAttempts 3', async () => {
    const { result, sleeper } = await run(task({ Retry: [{ ErrorEquals: ['States.TaskFailed'] }] }), {
      integrations: [failing(['A', 'B', 'C', 'D'])],
    });
    expect(result.error).toBe('D');
    expect(sleeper.delays('retry')).toEqual([1000, 2000, 4000]);
  });

  it('caps delays at MaxDelaySeconds and applies FULL jitter as a random share', async () => {
    const capped = await run(
      task({
        Retry: [{ ErrorEquals: ['X'], IntervalSeconds: 10, BackoffRate: 2, MaxAttempts: 3, MaxDelaySeconds: 15 }],
      }),
      { integrations: [failing(['X', 'X', 'X'])] },
    );
    expect(capped.sleeper.delays('retry')).toEqual([10000, 15000, 15000]);
    const jittered = await run(
      task({ Retry: [{ ErrorEquals: ['X'], IntervalSeconds: 4, MaxAttempts: 2, JitterStrategy: 'FULL' }] }),
      { integrations: [failing(['X', 'X'])], random: () => 0.25 },
    );
    expect(jittered.sleeper.delays('retry')).toEqual([1000, 2000]);
  });

  it('never retries with MaxAttempts 0', async () => {
    const calls: TaskInvocation[] = [];
    const { result } = await run(task({ Retry: [{ ErrorEquals: ['X'], MaxAttempts: 0 }] }), {
      integrations: [failing(['X'], calls)],
    });
    expect(result.error).toBe('X');
    expect(calls).toHaveLength(1);
  });

  it('uses the first matching retrier, each with its own count', async () => {
    const { result, sleeper } = await run(
      task({
        Retry: [
          { ErrorEquals: ['A'], IntervalSeconds: 1, MaxAttempts: 1 },
          { ErrorEquals: ['States.ALL'], IntervalSeconds: 5, MaxAttempts: 2, BackoffRate: 1 },
        ],
      }),
      { integrations: [failing(['A', 'B', 'B', 'A'])] },
    );
    // A (retry 1 s), B (5 s), B (5 s), A: the A retrier has used its one attempt.
    expect(sleeper.delays('retry')).toEqual([1000, 5000, 5000]);
    expect(result.error).toBe('A');
  });

  it('retries a Parallel state whose branch failed', async () => {
    const calls: TaskInvocation[] = [];
    const { result } = await run(
      {
        StartAt: 'Par',
        States: {
          Par: {
            Type: 'Parallel',
            Branches: [{ StartAt: 'Call', States: { Call: { Type: 'Task', Resource: FLAKY, End: true } } }],
            Retry: [{ ErrorEquals: ['Flaky'], MaxAttempts: 1 }],
            End: true,
          },
        },
      },
      { integrations: [failing(['Flaky'], calls)] },
    );
    expect(result.output).toEqual([{ attempt: 2, retryCount: 0 }]);
    expect(calls).toHaveLength(2);
  });
});

describe('Catch', () => {
  it('moves to the catcher Next with {Error, Cause} at its ResultPath, keeping the input', async () => {
    const { result, history } = await run(
      {
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: FLAKY,
            Catch: [
              { ErrorEquals: ['Other'], Next: 'Wrong' },
              { ErrorEquals: ['Custom.Broken'], ResultPath: '$.failure', Next: 'Recover' },
            ],
            End: true,
          },
          Wrong: { Type: 'Fail', Error: 'wrong catcher' },
          Recover: { Type: 'Pass', End: true },
        },
      },
      { integrations: [failing(['Custom.Broken'])] },
      { item: 1 },
    );
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: { item: 1, failure: { Error: 'Custom.Broken', Cause: 'attempt 1 failed' } },
    });
    const types = history.map((event) => event.type);
    expect(types.slice(types.indexOf('TaskFailed'))).toEqual([
      'TaskFailed',
      'TaskStateExited',
      'PassStateEntered',
      'PassStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('replaces the input with the error output when the catcher has no ResultPath, and keeps it with null', async () => {
    const definition = (resultPath: Record<string, unknown>) => ({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: FLAKY,
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done', ...resultPath }],
          End: true,
        },
        Done: { Type: 'Succeed' },
      },
    });
    const replaced = await run(definition({}), { integrations: [failing(['E'])] }, { keep: 1 });
    expect(replaced.result.output).toEqual({ Error: 'E', Cause: 'attempt 1 failed' });
    const kept = await run(definition({ ResultPath: null }), { integrations: [failing(['E'])] }, { keep: 1 });
    expect(kept.result.output).toEqual({ keep: 1 });
  });

  it('retries before catching', async () => {
    const calls: TaskInvocation[] = [];
    const { result } = await run(
      {
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: FLAKY,
            Retry: [{ ErrorEquals: ['E'], MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ['E'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Pass', Result: 'caught', End: true },
        },
      },
      { integrations: [failing(['E', 'E', 'E'], calls)] },
    );
    expect(result.output).toBe('caught');
    expect(calls).toHaveLength(3);
  });

  it('does not catch States.Timeout with States.TaskFailed, but does with States.ALL', async () => {
    const hang = serviceIntegration('flaky', [FLAKY], () => new Promise(() => undefined));
    const definition = (errors: string[]) => ({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: FLAKY,
          TimeoutSeconds: 3,
          Catch: [{ ErrorEquals: errors, Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Succeed' },
      },
    });
    const taskFailed = await run(definition(['States.TaskFailed']), {
      integrations: [hang],
      sleeper: new RecordingSleeper(['timeout']),
    });
    expect(taskFailed.result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    const all = await run(definition(['States.ALL']), {
      integrations: [hang],
      sleeper: new RecordingSleeper(['timeout']),
    });
    expect(all.result.status).toBe('SUCCEEDED');
  });

  it('turns an integration error without a name into States.TaskFailed', async () => {
    const broken = serviceIntegration('flaky', [FLAKY], async () => {
      throw new TypeError('boom');
    });
    const { result } = await run(task({}), { integrations: [broken] });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed', cause: 'TypeError: boom' });
  });
});

describe('TimeoutSeconds and HeartbeatSeconds', () => {
  const hang = serviceIntegration('flaky', [FLAKY], () => new Promise(() => undefined));

  it('fails a task that runs past TimeoutSeconds with States.Timeout and records TaskTimedOut', async () => {
    const sleeper = new RecordingSleeper(['timeout']);
    const { result, history } = await run(task({ TimeoutSeconds: 30 }), { integrations: [hang], sleeper });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(sleeper.sleeps).toContainEqual({ ms: 30_000, reason: 'timeout' });
    const timedOut = history.find((event) => event.type === 'TaskTimedOut');
    expect(timedOut?.taskTimedOutEventDetails?.error).toBe('States.Timeout');
  });

  it('reads TimeoutSecondsPath from the input', async () => {
    const sleeper = new RecordingSleeper(['timeout']);
    const { result } = await run(
      task({ TimeoutSecondsPath: '$.limit' }),
      { integrations: [hang], sleeper },
      { limit: 7 },
    );
    expect(result.error).toBe('States.Timeout');
    expect(sleeper.sleeps).toContainEqual({ ms: 7000, reason: 'timeout' });
  });

  it('fails a task without a heartbeat for HeartbeatSeconds with States.HeartbeatTimeout', async () => {
    const sleeper = new RecordingSleeper(['heartbeat']);
    const { result } = await run(task({ HeartbeatSeconds: 10 }), { integrations: [hang], sleeper });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.HeartbeatTimeout' });
  });

  it('re-arms the heartbeat timer each time the integration reports progress', async () => {
    const sleeper = new RecordingSleeper();
    const beating = serviceIntegration('flaky', [FLAKY], async (invocation) => {
      invocation.heartbeat();
      invocation.heartbeat();
      return 'done';
    });
    const { result } = await run(task({ HeartbeatSeconds: 10 }), { integrations: [beating], sleeper });
    expect(result.output).toBe('done');
    expect(sleeper.delays('heartbeat')).toEqual([10_000, 10_000, 10_000]);
  });

  it('aborts the integration signal when the task times out', async () => {
    let signal: AbortSignal | undefined;
    const watching = serviceIntegration('flaky', [FLAKY], (invocation) => {
      signal = invocation.signal;
      return new Promise(() => undefined);
    });
    await run(task({ TimeoutSeconds: 1 }), { integrations: [watching], sleeper: new RecordingSleeper(['timeout']) });
    expect(signal?.aborted).toBe(true);
  });
});

describe('payload quota (256 KiB)', () => {
  const big = serviceIntegration('flaky', [FLAKY], async () => ({ blob: 'x'.repeat(262_144) }));

  it('fails a task whose result is over 262,144 bytes with States.DataLimitExceeded', async () => {
    const { result } = await run(task({}), { integrations: [big] });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  });

  it('lets a catcher naming States.DataLimitExceeded catch it, but not States.ALL', async () => {
    const definition = (errors: string[]) => ({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: FLAKY,
          Catch: [{ ErrorEquals: errors, ResultPath: '$.error', Next: 'Small' }],
          End: true,
        },
        Small: { Type: 'Pass', End: true },
      },
    });
    const named = await run(definition(['States.DataLimitExceeded']), { integrations: [big] });
    expect(named.result).toMatchObject({
      status: 'SUCCEEDED',
      output: { error: { Error: 'States.DataLimitExceeded' } },
    });
    const all = await run(definition(['States.ALL']), { integrations: [big] });
    expect(all.result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  });

  it('counts UTF-8 bytes, not characters', async () => {
    // 100,000 three-byte characters: 300,000 bytes of JSON text.
    const { result } = await run(
      { StartAt: 'P', States: { P: { Type: 'Pass', Result: '€'.repeat(100_000), End: true } } },
      {},
    );
    expect(result.error).toBe('States.DataLimitExceeded');
  });

  it('checks the effective parameters of a task before scheduling it', async () => {
    const calls: TaskInvocation[] = [];
    const { result, history } = await run(
      task({ Parameters: { 'a.$': '$.half', 'b.$': '$.half' } }),
      { integrations: [failing([], calls)] },
      { half: 'y'.repeat(140_000) },
    );
    expect(result.error).toBe('States.DataLimitExceeded');
    expect(calls).toHaveLength(0);
    expect(history.map((event) => event.type)).not.toContain('TaskScheduled');
  });
});

describe('States.Runtime', () => {
  it('is neither retried nor caught by States.ALL', async () => {
    const { result } = await run(
      {
        StartAt: 'P',
        States: {
          P: {
            Type: 'Task',
            Resource: FLAKY,
            InputPath: '$.missing',
            Retry: [{ ErrorEquals: ['States.ALL'] }],
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Succeed' },
        },
      },
      { integrations: [failing([])] },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });
});

describe('history quota (25,000 events)', () => {
  /** Init (2 events), N loops of Increment + Check (4 each), Last and Done (4), plus start and end: 8 + 4N. */
  const loop = (iterations: number) => ({
    StartAt: 'Init',
    States: {
      Init: { Type: 'Pass', Result: { i: 0 }, Next: 'Increment' },
      Increment: { Type: 'Pass', Parameters: { 'i.$': 'States.MathAdd($.i, 1)' }, Next: 'Check' },
      Check: {
        Type: 'Choice',
        Choices: [{ Variable: '$.i', NumericLessThan: iterations, Next: 'Increment' }],
        Default: 'Last',
      },
      Last: { Type: 'Pass', Next: 'Done' },
      Done: { Type: 'Succeed' },
    },
  });

  it('lets an execution succeed when ExecutionSucceeded is event 25,000', async () => {
    const { result, history } = await run(loop(6248), {});
    expect(result.status).toBe('SUCCEEDED');
    expect(history).toHaveLength(HISTORY_EVENT_LIMIT);
    expect(history.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('fails the execution when event 25,000 would be anything else, recording ExecutionFailed as that event', async () => {
    const { result, history } = await run(loop(6249), {});
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(result.cause).toContain('25000');
    expect(history).toHaveLength(HISTORY_EVENT_LIMIT);
    expect(history.at(-1)?.type).toBe('ExecutionFailed');
  });

  it('cannot be caught: an inline Map over many items fails the execution', async () => {
    const { result, history } = await run(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Succeed' },
        },
      },
      {},
      Array.from({ length: 7000 }, (_, i) => i),
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(history).toHaveLength(HISTORY_EVENT_LIMIT);
  });
});
