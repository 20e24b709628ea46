import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { StatesError } from '../../pipeline/local/engine/engine-errors.ts';
import { functionNameOf } from '../../pipeline/local/engine/lambda-integration.ts';
import { LocalEngine, type LocalEngineOptions } from '../../pipeline/local/engine/local-engine.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
}

const invoke = (functionName: string, extra: Record<string, unknown> = {}) => ({
  StartAt: 'Call',
  States: {
    Call: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: functionName, 'Payload.$': '$' },
      End: true,
      ...extra,
    },
  },
});

async function run(definition: unknown, options: LocalEngineOptions, input: unknown = {}) {
  const execution = new LocalEngine({ sleeper: new RecordingSleeper(), ...options }).startExecution({
    definition,
    input,
  });
  const result = await execution.result();
  return { result, history: execution.history() };
}

describe('Lambda integration', () => {
  it('returns the Invoke response for lambda:invoke, with the handler result as Payload', async () => {
    const { result } = await run(
      invoke('arn:aws:lambda:us-east-1:123456789012:function:double:live'),
      {
        lambdaFunctions: { double: { handler: async (event) => ({ doubled: (event as { n: number }).n * 2 }) } },
      },
      { n: 21 },
    );
    expect(result.output).toMatchObject({
      ExecutedVersion: '$LATEST',
      Payload: { doubled: 42 },
      StatusCode: 200,
      SdkHttpMetadata: { HttpStatusCode: 200 },
      SdkResponseMetadata: { RequestId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });
  });

  it('returns the payload itself for a plain function ARN and records LambdaFunction events', async () => {
    const { result, history } = await run(
      {
        StartAt: 'Call',
        States: { Call: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:echo', End: true } },
      },
      { lambdaFunctions: { echo: { handler: (event) => event } } },
      { a: 1 },
    );
    expect(result.output).toEqual({ a: 1 });
    expect(history.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('gives the handler a Lambda-like context', async () => {
    let seen: Context | undefined;
    await run(invoke('plan'), {
      lambdaFunctions: {
        plan: {
          timeoutSeconds: 30,
          memorySizeMb: 512,
          handler: (_event, context) => {
            seen = context;
            return null;
          },
        },
      },
    });
    expect(seen).toMatchObject({
      functionName: 'plan',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:plan',
      memoryLimitInMB: '512',
      awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      logGroupName: '/aws/lambda/plan',
    });
    expect(seen?.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(seen?.getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
  });

  it('reports a thrown error with its name as Error and Lambda JSON as Cause, for Retry and Catch to match', async () => {
    const { result } = await run(
      {
        StartAt: 'Call',
        States: {
          Call: {
            ...invoke('plan').States.Call,
            End: undefined,
            Catch: [{ ErrorEquals: ['RunConflictError'], ResultPath: '$.error', Next: 'Handled' }],
            Next: 'Handled',
          },
          Handled: { Type: 'Pass', End: true },
        },
      },
      {
        lambdaFunctions: {
          plan: {
            handler: async () => {
              throw new RunConflictError('run r1 exists with other settings');
            },
          },
        },
      },
    );
    const error = (result.output as { error: { Error: string; Cause: string } }).error;
    expect(error.Error).toBe('RunConflictError');
    const cause = JSON.parse(error.Cause) as { errorType: string; errorMessage: string; trace: string[] };
    expect(cause.errorType).toBe('RunConflictError');
    expect(cause.errorMessage).toBe('run r1 exists with other settings');
    expect(cause.trace[0]).toContain('RunConflictError');
  });

  it('lets a handler simulate a Lambda service error, retried like AWS retries it', async () => {
    let calls = 0;
    const { result } = await run(
      invoke('plan', {
        ResultSelector: { 'value.$': '$.Payload' },
        Retry: [{ ErrorEquals: ['Lambda.ServiceException'], MaxAttempts: 2 }],
      }),
      {
        lambdaFunctions: {
          plan: {
            handler: async () => {
              calls += 1;
              if (calls === 1) throw new StatesError('Lambda.ServiceException', 'Lambda is unavailable');
              return 'ok';
            },
          },
        },
      },
    );
    expect(result.output).toEqual({ value: 'ok' });
    expect(calls).toBe(2);
  });

  it('fails a handler that runs past its timeout with Sandbox.Timedout', async () => {
    const { result } = await run(invoke('slow'), {
      sleeper: new RecordingSleeper(['timeout']),
      lambdaFunctions: { slow: { timeoutSeconds: 2, handler: () => new Promise(() => undefined) } },
    });
    expect(result).toMatchObject({ status: 'FAILED', error: 'Sandbox.Timedout' });
    expect(result.cause).toContain('Task timed out after 2.00 seconds');
  });

  it.each([
    ['plan', 'plan'],
    ['plan:live', 'plan'],
    ['123456789012:function:plan', 'plan'],
    ['arn:aws:lambda:eu-west-1:123456789012:function:plan:7', 'plan'],
  ])('reads the function name from %s', (given, expected) => {
    expect(functionNameOf(given)).toBe(expected);
  });
});
