/**
 * Runs Lambda tasks in process: `arn:aws:states:::lambda:invoke` (Parameters `FunctionName`, `Payload`; the result
 * is the Invoke response `{ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata, StatusCode}`) and the plain
 * function ARN form (`arn:aws:lambda:region:account:function:name`; the result is the payload itself), as "Invoke an
 * AWS Lambda function with Step Functions" in the Developer Guide describes.
 *
 * A handler that throws fails the task the way Lambda reports an unhandled error: the error name is the thrown
 * error's `name` (Lambda's `errorType`) and the cause is `{"errorType", "errorMessage", "trace"}` as JSON text. A
 * handler that throws a {@link StatesError} simulates a Lambda *service* error (`Lambda.ServiceException`,
 * `Lambda.TooManyRequestsException`, ...) and fails the task with exactly that name and cause. A handler that runs
 * past the function's timeout fails with `Sandbox.Timedout`, as the Node.js runtimes report it.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { PayloadTemplate } from './asl.ts';
import { StatesError } from './engine-errors.ts';
import type { TaskIntegration, TaskInvocation } from './integrations.ts';
import { isLambdaFunctionArn } from './integrations.ts';
import type { Sleeper } from './timers.ts';

export type LambdaHandler = (event: unknown, context: Context) => unknown;

export interface LocalLambdaFunction {
  readonly handler: LambdaHandler;
  /** The function's timeout. @default 3 (Lambda's default) */
  readonly timeoutSeconds?: number;
  /** Reported as `context.memoryLimitInMB`. @default 128 */
  readonly memorySizeMb?: number;
}

export interface LambdaIntegrationOptions {
  /** Functions by name (the last part of their ARN). */
  readonly functions: Readonly<Record<string, LocalLambdaFunction>>;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '123456789012' */
  readonly accountId?: string;
  /** Times the function timeout; the engine's sleeper is the usual choice. */
  readonly sleeper: Sleeper;
}

const INVOKE = /^arn:aws[a-z-]*:states:::lambda:invoke$/;

/** The integration that calls in-process handlers by function name. */
export function lambdaIntegration(options: LambdaIntegrationOptions): TaskIntegration {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const lookup = (functionName: string): { name: string; fn: LocalLambdaFunction } | undefined => {
    const name = functionNameOf(functionName);
    const fn = name === undefined ? undefined : options.functions[name];
    return fn && name !== undefined ? { name, fn } : undefined;
  };

  return {
    name: 'lambda',
    handles: (resource) => INVOKE.test(resource) || isLambdaFunctionArn(resource),
    check(resource: string, parameters: PayloadTemplate | undefined, where: string): string[] {
      const known = Object.keys(options.functions).join(', ') || 'none';
      if (isLambdaFunctionArn(resource)) {
        return lookup(resource)
          ? []
          : [`${where}.Resource: no local Lambda function "${functionNameOf(resource)}" (known: ${known})`];
      }
      if (parameters === undefined) return [`${where}.Parameters: lambda:invoke needs Parameters with FunctionName`];
      const problems: string[] = [];
      for (const key of Object.keys(parameters)) {
        if (
          !['FunctionName', 'Payload', 'Payload.$', 'Qualifier', 'InvocationType', 'ClientContext', 'LogType'].includes(
            key,
          )
        ) {
          problems.push(`${where}.Parameters.${key}: not a lambda:invoke parameter the local engine supports`);
        }
      }
      const invocationType = parameters.InvocationType;
      if (invocationType !== undefined && invocationType !== 'RequestResponse') {
        problems.push(`${where}.Parameters.InvocationType: only RequestResponse is supported locally`);
      }
      const name = parameters.FunctionName;
      if (typeof name !== 'string') {
        problems.push(
          `${where}.Parameters.FunctionName: must be a literal function name or ARN (a ".$" name is not supported)`,
        );
      } else if (!lookup(name)) {
        problems.push(
          `${where}.Parameters.FunctionName: no local Lambda function "${functionNameOf(name)}" (known: ${known})`,
        );
      }
      return problems;
    },
    async invoke(invocation: TaskInvocation): Promise<unknown> {
      const plain = isLambdaFunctionArn(invocation.resource);
      const params = (invocation.parameters ?? {}) as Record<string, unknown>;
      const functionName = plain ? invocation.resource : String(params.FunctionName);
      const target = lookup(functionName);
      if (!target) {
        throw new StatesError('Lambda.ResourceNotFoundException', `Function not found: ${functionName}`);
      }
      // With the plain ARN the state's effective input is the event; with lambda:invoke it is `Payload`.
      const event = plain ? invocation.parameters : (params.Payload ?? {});
      const requestId = randomUUID();
      const payload = await runHandler(target.name, target.fn, event, requestId, {
        region,
        accountId,
        sleeper: options.sleeper,
        signal: invocation.signal,
      });
      if (plain) return payload;
      return {
        ExecutedVersion: '$LATEST',
        Payload: payload,
        SdkHttpMetadata: {
          AllHttpHeaders: { 'X-Amz-Executed-Version': ['$LATEST'], 'x-amzn-RequestId': [requestId] },
          HttpHeaders: { 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId },
          HttpStatusCode: 200,
        },
        SdkResponseMetadata: { RequestId: requestId },
        StatusCode: 200,
      };
    },
  };
}

/** `name`, `name:alias`, `123456789012:function:name` or a full ARN, to `name`. */
export function functionNameOf(functionName: string): string | undefined {
  const arn = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$/.exec(functionName);
  if (arn) return arn[1];
  const partial = /^\d{12}:function:([^:]+)(:[^:]+)?$/.exec(functionName);
  if (partial) return partial[1];
  const plain = /^([A-Za-z0-9_-]+)(:[^:]+)?$/.exec(functionName);
  return plain?.[1];
}

async function runHandler(
  name: string,
  fn: LocalLambdaFunction,
  event: unknown,
  requestId: string,
  env: { region: string; accountId: string; sleeper: Sleeper; signal: AbortSignal },
): Promise<unknown> {
  const timeoutMs = (fn.timeoutSeconds ?? 3) * 1000;
  const started = Date.now();
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${env.region}:${env.accountId}:function:${name}`,
    memoryLimitInMB: String(fn.memorySizeMb ?? 128),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  const timer = new AbortController();
  const onAbort = () => timer.abort();
  env.signal.addEventListener('abort', onAbort, { once: true });
  const timedOut = env.sleeper.sleep(timeoutMs, { reason: 'timeout', signal: timer.signal }).then(
    () => 'timeout' as const,
    () => 'cancelled' as const,
  );
  try {
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => fn.handler(event, context))
        .then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
      timedOut,
    ]);
    if (outcome === 'timeout') {
      const message = `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`;
      throw new StatesError(
        'Sandbox.Timedout',
        JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage: message }),
      );
    }
    if (outcome === 'cancelled') throw new StatesError('States.Runtime', 'the invocation was cancelled');
    if (outcome.ok) return outcome.value;
    throw lambdaError(outcome.error);
  } finally {
    timer.abort();
    env.signal.removeEventListener('abort', onAbort);
  }
}

/** The error Step Functions reports for an unhandled error in a Node.js function. */
export function lambdaError(error: unknown): StatesError {
  if (error instanceof StatesError) return error;
  const errorType = error instanceof Error ? error.name || 'Error' : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  const trace = error instanceof Error && error.stack ? error.stack.split('\n') : [];
  return new StatesError(errorType, JSON.stringify({ errorType, errorMessage, trace }));
}
