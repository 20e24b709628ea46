import { describe, expect, it } from 'vitest';
import { serviceIntegration } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine, type LocalEngineOptions } from '../../pipeline/local/engine/local-engine.ts';
import type { ProgressEvent } from '../../pipeline/local/engine/progress-events.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const START = new Date('2024-05-01T12:00:00.000Z');

function engineWith(options: LocalEngineOptions = {}): LocalEngine {
  return new LocalEngine({ clock: { now: () => START }, sleeper: new RecordingSleeper(), ...options });
}

async function runDefinition(definition: unknown, input: unknown, options: LocalEngineOptions = {}) {
  const execution = engineWith(options).startExecution({ definition, input, name: 'test-run' });
  const result = await execution.result();
  return { result, history: execution.history(), execution };
}

const echo = serviceIntegration('echo', ['arn:aws:states:::echo:invoke'], async ({ parameters }) => ({
  echoed: parameters,
}));

describe('Pass, Succeed and input/output processing', () => {
  it('applies InputPath, Parameters, Result, ResultPath and OutputPath in order', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'Shape',
        States: {
          Shape: {
            Type: 'Pass',
            InputPath: '$.inner',
            Parameters: { 'copied.$': '$.value', fixed: 'yes' },
            ResultPath: '$.shaped',
            Next: 'Fixed',
          },
          Fixed: {
            Type: 'Pass',
            Result: { constant: 1 },
            ResultPath: '$.shaped.extra',
            OutputPath: '$.shaped',
            Next: 'Done',
          },
          Done: { Type: 'Succeed' },
        },
      },
      { inner: { value: 'v' }, other: 2 },
    );
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: { copied: 'v', fixed: 'yes', extra: { constant: 1 } },
    });
  });

  it('keeps the input with ResultPath null and gives {} for InputPath null and OutputPath null', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'Discard',
        States: {
          Discard: { Type: 'Pass', Result: 'ignored', ResultPath: null, Next: 'Empty' },
          Empty: { Type: 'Pass', InputPath: null, ResultPath: '$.seen', Next: 'Drop' },
          Drop: { Type: 'Pass', OutputPath: null, End: true },
        },
      },
      { a: 1 },
    );
    expect(result.output).toEqual({});
  });

  it('passes the effective input through a Succeed state with InputPath and OutputPath', async () => {
    const { result } = await runDefinition(
      { StartAt: 'Done', States: { Done: { Type: 'Succeed', InputPath: '$.a', OutputPath: '$.b' } } },
      { a: { b: 5 } },
    );
    expect(result.output).toBe(5);
  });

  it('fails with States.Runtime when InputPath selects nothing', async () => {
    const { result } = await runDefinition(
      { StartAt: 'P', States: { P: { Type: 'Pass', InputPath: '$.missing', End: true } } },
      { a: 1 },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(result.cause).toContain('$.missing');
  });

  it('fails with States.Runtime when a Parameters path selects nothing, naming the field', async () => {
    const { result } = await runDefinition(
      { StartAt: 'P', States: { P: { Type: 'Pass', Parameters: { 'x.$': '$.nope' }, End: true } } },
      {},
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(result.cause).toContain("specified for the field 'x.$'");
  });

  it('fails with States.ResultPathMatchFailure when ResultPath cannot be applied to the input', async () => {
    const { result } = await runDefinition(
      { StartAt: 'P', States: { P: { Type: 'Pass', Result: 1, ResultPath: '$.a.b', End: true } } },
      { a: 'a string' },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ResultPathMatchFailure' });
  });

  it('exposes the context object to Parameters', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'Context',
        States: {
          Context: {
            Type: 'Pass',
            Parameters: {
              'id.$': '$$.Execution.Id',
              'name.$': '$$.Execution.Name',
              'input.$': '$$.Execution.Input',
              'start.$': '$$.Execution.StartTime',
              'role.$': '$$.Execution.RoleArn',
              'state.$': '$$.State.Name',
              'entered.$': '$$.State.EnteredTime',
              'retries.$': '$$.State.RetryCount',
              'machine.$': '$$.StateMachine.Name',
              'machineId.$': '$$.StateMachine.Id',
            },
            End: true,
          },
        },
      },
      { k: 'v' },
    );
    expect(result.output).toEqual({
      id: 'arn:aws:states:us-east-1:123456789012:execution:LocalStateMachine:test-run',
      name: 'test-run',
      input: { k: 'v' },
      start: START.toISOString(),
      role: 'arn:aws:iam::123456789012:role/StepFunctionsLocalRole',
      state: 'Context',
      entered: START.toISOString(),
      retries: 0,
      machine: 'LocalStateMachine',
      machineId: 'arn:aws:states:us-east-1:123456789012:stateMachine:LocalStateMachine',
    });
  });
});

describe('Task state', () => {
  it('sends the evaluated Parameters to the integration and selects from its result', async () => {
    const { result, history } = await runDefinition(
      {
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: 'arn:aws:states:::echo:invoke',
            Parameters: { 'n.$': '$.n', nested: { 'list.$': '$.list' } },
            ResultSelector: { 'got.$': '$.echoed.nested.list[1]' },
            ResultPath: '$.result',
            End: true,
          },
        },
      },
      { n: 1, list: ['a', 'b'] },
      { integrations: [echo] },
    );
    expect(result.output).toEqual({ n: 1, list: ['a', 'b'], result: { got: 'b' } });
    const scheduled = history.find((event) => event.type === 'TaskScheduled');
    expect(scheduled?.taskScheduledEventDetails).toMatchObject({
      resourceType: 'echo',
      resource: 'invoke',
      region: 'us-east-1',
      parameters: JSON.stringify({ n: 1, nested: { list: ['a', 'b'] } }),
    });
  });

  it('passes the effective input when a Task has no Parameters, and a fresh copy each time', async () => {
    const seen: unknown[] = [];
    const mutating = serviceIntegration('mutating', ['arn:aws:states:::m:run'], async ({ parameters }) => {
      seen.push(structuredClone(parameters));
      (parameters as { touched?: boolean }).touched = true;
      return parameters;
    });
    const { result } = await runDefinition(
      {
        StartAt: 'A',
        States: {
          A: { Type: 'Task', Resource: 'arn:aws:states:::m:run', InputPath: '$.in', ResultPath: '$.a', Next: 'B' },
          B: { Type: 'Task', Resource: 'arn:aws:states:::m:run', InputPath: '$.in', ResultPath: '$.b', End: true },
        },
      },
      { in: { v: 1 } },
      { integrations: [mutating] },
    );
    expect(seen).toEqual([{ v: 1 }, { v: 1 }]);
    expect(result.output).toEqual({ in: { v: 1 }, a: { v: 1, touched: true }, b: { v: 1, touched: true } });
  });

  it('records the events of a task as AWS does', async () => {
    const { history } = await runDefinition(
      { StartAt: 'Call', States: { Call: { Type: 'Task', Resource: 'arn:aws:states:::echo:invoke', End: true } } },
      {},
      { integrations: [echo] },
    );
    expect(history.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(history.map((event) => event.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('records TaskSubmitted when a .sync integration reports its submission', async () => {
    const job = serviceIntegration('job', ['arn:aws:states:::job:run.sync'], async (invocation) => {
      invocation.submitted({ JobArn: 'arn:job/1' });
      return { Status: 'Completed' };
    });
    const { history } = await runDefinition(
      { StartAt: 'Job', States: { Job: { Type: 'Task', Resource: 'arn:aws:states:::job:run.sync', End: true } } },
      {},
      { integrations: [job] },
    );
    const submitted = history.find((event) => event.type === 'TaskSubmitted');
    expect(submitted?.taskSubmittedEventDetails?.output).toBe('{"JobArn":"arn:job/1"}');
  });

  it('gives .waitForTaskToken tasks a token in $$.Task.Token and in the invocation', async () => {
    let tokenSeen: string | undefined;
    const callback = serviceIntegration(
      'callback',
      ['arn:aws:states:::sqs:sendMessage.waitForTaskToken'],
      async (invocation) => {
        tokenSeen = invocation.taskToken;
        return { answered: (invocation.parameters as { token: string }).token === invocation.taskToken };
      },
    );
    const { result } = await runDefinition(
      {
        StartAt: 'Wait',
        States: {
          Wait: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
            Parameters: { 'token.$': '$$.Task.Token' },
            End: true,
          },
        },
      },
      {},
      { integrations: [callback] },
    );
    expect(tokenSeen).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.output).toEqual({ answered: true });
  });
});

describe('Wait state', () => {
  it.each([
    [{ Seconds: 10 }, {}, 10_000],
    [{ SecondsPath: '$.delay' }, { delay: 3 }, 3_000],
    [{ Timestamp: '2024-05-01T12:01:00Z' }, {}, 60_000],
    [{ TimestampPath: '$.until' }, { until: '2024-05-01T12:00:30.500Z' }, 30_500],
  ])('waits as %j says', async (fields, input, expectedMs) => {
    const sleeper = new RecordingSleeper();
    const { result } = await runDefinition(
      { StartAt: 'W', States: { W: { Type: 'Wait', ...fields, End: true } } },
      input,
      { sleeper },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(sleeper.delays('wait')).toEqual([expectedMs]);
  });

  it('does not wait for a timestamp in the past', async () => {
    const sleeper = new RecordingSleeper();
    await runDefinition(
      { StartAt: 'W', States: { W: { Type: 'Wait', Timestamp: '2020-01-01T00:00:00Z', End: true } } },
      {},
      { sleeper },
    );
    expect(sleeper.delays('wait')).toEqual([]);
  });

  it('fails with States.Runtime when SecondsPath selects a negative or non-integer value', async () => {
    const { result } = await runDefinition(
      { StartAt: 'W', States: { W: { Type: 'Wait', SecondsPath: '$.d', End: true } } },
      { d: -1 },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });
});

describe('Fail state', () => {
  it('fails the execution with its Error and Cause', async () => {
    const { result, history } = await runDefinition(
      { StartAt: 'F', States: { F: { Type: 'Fail', Error: 'Custom.Error', Cause: 'it broke' } } },
      {},
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'Custom.Error', cause: 'it broke' });
    expect(history.map((event) => event.type)).toEqual(['ExecutionStarted', 'FailStateEntered', 'ExecutionFailed']);
  });

  it('reads ErrorPath and CausePath from the input, intrinsic functions included', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'F',
        States: { F: { Type: 'Fail', ErrorPath: '$.code', CausePath: "States.Format('bad item {}', $.item)" } },
      },
      { code: 'Item.Invalid', item: 7 },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'Item.Invalid', cause: 'bad item 7' });
  });
});

describe('Parallel state', () => {
  it('runs every branch on the same input and returns their outputs in branch order', async () => {
    const { result, history } = await runDefinition(
      {
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Parameters: { 'v.$': '$.v' },
            Branches: [
              { StartAt: 'A', States: { A: { Type: 'Pass', Parameters: { 'a.$': '$.v' }, End: true } } },
              {
                StartAt: 'B',
                States: { B: { Type: 'Wait', Seconds: 1, Next: 'B2' }, B2: { Type: 'Pass', Result: 'b', End: true } },
              },
            ],
            ResultSelector: { 'first.$': '$[0].a', 'second.$': '$[1]' },
            ResultPath: '$.both',
            End: true,
          },
        },
      },
      { v: 9 },
    );
    expect(result.output).toEqual({ v: 9, both: { first: 9, second: 'b' } });
    const types = history.map((event) => event.type);
    expect(types[2]).toBe('ParallelStateStarted');
    expect(types.at(-3)).toBe('ParallelStateSucceeded');
  });

  it('fails with the error of the failing branch, which the Parallel state can catch', async () => {
    const { result, history } = await runDefinition(
      {
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Branches: [
              { StartAt: 'Bad', States: { Bad: { Type: 'Fail', Error: 'Branch.Broke', Cause: 'no' } } },
              {
                StartAt: 'Slow',
                States: { Slow: { Type: 'Task', Resource: 'arn:aws:states:::hang:forever', End: true } },
              },
            ],
            Catch: [{ ErrorEquals: ['Branch.Broke'], ResultPath: '$.error', Next: 'Handled' }],
            End: true,
          },
          Handled: { Type: 'Pass', End: true },
        },
      },
      {},
      {
        integrations: [
          serviceIntegration('hang', ['arn:aws:states:::hang:forever'], () => new Promise(() => undefined)),
        ],
      },
    );
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { error: { Error: 'Branch.Broke', Cause: 'no' } } });
    const types = history.map((event) => event.type);
    expect(types).toContain('ParallelStateFailed');
    expect(types).toContain('TaskStateAborted');
  });
});

describe('inline Map state', () => {
  it('maps over ItemsPath with ItemSelector and the Map.Item context, keeping item order', async () => {
    const { result, history } = await runDefinition(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.items',
            ItemSelector: { 'index.$': '$$.Map.Item.Index', 'value.$': '$$.Map.Item.Value', 'prefix.$': '$.prefix' },
            MaxConcurrency: 2,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'INLINE' },
              StartAt: 'Label',
              States: {
                Label: {
                  Type: 'Pass',
                  Parameters: { 'label.$': "States.Format('{}-{}', $.prefix, $.value)" },
                  End: true,
                },
              },
            },
            ResultPath: '$.labels',
            End: true,
          },
        },
      },
      { items: ['a', 'b', 'c'], prefix: 'p' },
    );
    expect(result.output).toEqual({
      items: ['a', 'b', 'c'],
      prefix: 'p',
      labels: [{ label: 'p-a' }, { label: 'p-b' }, { label: 'p-c' }],
    });
    const started = history.find((event) => event.type === 'MapStateStarted');
    expect(started?.mapStateStartedEventDetails).toEqual({ length: 3 });
    expect(history.filter((event) => event.type === 'MapIterationSucceeded')).toHaveLength(3);
  });

  it('accepts the legacy Iterator and Parameters fields', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            Parameters: { 'v.$': '$$.Map.Item.Value' },
            Iterator: { StartAt: 'P', States: { P: { Type: 'Pass', OutputPath: '$.v', End: true } } },
            End: true,
          },
        },
      },
      [1, 2],
    );
    expect(result.output).toEqual([1, 2]);
  });

  it('runs no more iterations at once than MaxConcurrency', async () => {
    let running = 0;
    let peak = 0;
    const slow = serviceIntegration('slow', ['arn:aws:states:::slow:run'], async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      return {};
    });
    await runDefinition(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            MaxConcurrency: 2,
            ItemProcessor: {
              StartAt: 'T',
              States: { T: { Type: 'Task', Resource: 'arn:aws:states:::slow:run', End: true } },
            },
            End: true,
          },
        },
      },
      [1, 2, 3, 4, 5, 6],
      { integrations: [slow] },
    );
    expect(peak).toBe(2);
  });

  it('fails when an iteration fails, with that error', async () => {
    const { result, history } = await runDefinition(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemProcessor: {
              StartAt: 'Check',
              States: {
                Check: { Type: 'Choice', Choices: [{ Variable: '$', NumericEquals: 2, Next: 'Bad' }], Default: 'Ok' },
                Bad: { Type: 'Fail', Error: 'Item.Bad' },
                Ok: { Type: 'Succeed' },
              },
            },
            End: true,
          },
        },
      },
      [1, 2, 3],
      { concurrencyCap: 1 },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'Item.Bad' });
    expect(history.map((event) => event.type)).toContain('MapIterationFailed');
    expect(history.map((event) => event.type)).toContain('MapStateFailed');
  });

  it('fails with States.Runtime when ItemsPath does not select an array', async () => {
    const { result } = await runDefinition(
      {
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.x',
            ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
            End: true,
          },
        },
      },
      { x: 'not a list' },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });
});

describe('progress and stopping', () => {
  it('reports states entered and exited to the progress listener', async () => {
    const events: ProgressEvent[] = [];
    await runDefinition(
      { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', End: true } } },
      {},
      { onProgress: (event) => events.push(event) },
    );
    expect(
      events.map((event) => (event.type === 'StateEntered' ? `${event.type}:${event.stateName}` : event.type)),
    ).toEqual(['ExecutionStarted', 'StateEntered:A', 'StateExited', 'StateEntered:B', 'StateExited', 'ExecutionEnded']);
  });

  it('stops a running execution as ABORTED', async () => {
    let taskStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      taskStarted = resolve;
    });
    const hang = serviceIntegration('hang', ['arn:aws:states:::hang:forever'], () => {
      taskStarted();
      return new Promise(() => undefined);
    });
    const execution = engineWith({ integrations: [hang] }).startExecution({
      definition: {
        StartAt: 'Hang',
        States: { Hang: { Type: 'Task', Resource: 'arn:aws:states:::hang:forever', End: true } },
      },
    });
    await started;
    const result = await execution.stop({ error: 'User.Stop', cause: 'enough' });
    expect(result).toMatchObject({ status: 'ABORTED', error: 'User.Stop', cause: 'enough' });
    expect(
      execution
        .history()
        .map((event) => event.type)
        .slice(-2),
    ).toEqual(['TaskStateAborted', 'ExecutionAborted']);
  });

  it('times the whole execution out with the definition TimeoutSeconds', async () => {
    const { result, history } = await runDefinition(
      {
        TimeoutSeconds: 5,
        StartAt: 'Hang',
        States: { Hang: { Type: 'Task', Resource: 'arn:aws:states:::hang:forever', End: true } },
      },
      {},
      {
        sleeper: new RecordingSleeper(['timeout']),
        integrations: [
          serviceIntegration('hang', ['arn:aws:states:::hang:forever'], () => new Promise(() => undefined)),
        ],
      },
    );
    expect(result).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(history.at(-1)?.type).toBe('ExecutionTimedOut');
  });

  it('returns the running execution for a repeated start with the same name and input, and refuses a different input', async () => {
    const engine = engineWith({
      integrations: [serviceIntegration('hang', ['arn:aws:states:::hang:forever'], () => new Promise(() => undefined))],
    });
    const definition = {
      StartAt: 'Hang',
      States: { Hang: { Type: 'Task', Resource: 'arn:aws:states:::hang:forever', End: true } },
    };
    const first = engine.startExecution({ definition, name: 'same', input: { a: 1 } });
    const again = engine.startExecution({ definition, name: 'same', input: { a: 1 } });
    expect(again.executionArn).toBe(first.executionArn);
    expect(() => engine.startExecution({ definition, name: 'same', input: { a: 2 } })).toThrow(
      'ExecutionAlreadyExists',
    );
    await first.stop();
  });

  it('refuses an invalid execution name and an input over 256 KiB', () => {
    const engine = engineWith();
    const definition = { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } };
    expect(() => engine.startExecution({ definition, name: 'has space' })).toThrow('is invalid');
    expect(() => engine.startExecution({ definition, input: { big: 'x'.repeat(262_144) } })).toThrow('at most 262144');
  });
});
