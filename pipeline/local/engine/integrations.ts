/**
 * How Task states reach the outside world: a Task's `Resource` ARN picks an integration, which receives the
 * evaluated `Parameters` and returns the task result (or throws). The engine owns everything around the call:
 * InputPath/Parameters before it, ResultSelector/ResultPath/OutputPath after it, Retry, Catch, TimeoutSeconds,
 * HeartbeatSeconds, the payload limit and the history events.
 */
import type { PayloadTemplate } from './asl.ts';
import type { EngineLog } from './engine-log.ts';

/** The context object (`$$`), "Accessing execution data from the Context object in Step Functions". */
export interface ContextObject {
  readonly Execution: {
    readonly Id: string;
    readonly Input: unknown;
    readonly Name: string;
    readonly RoleArn: string;
    readonly StartTime: string;
    readonly RedriveCount: number;
  };
  readonly State: { readonly EnteredTime: string; readonly Name: string; readonly RetryCount: number };
  readonly StateMachine: { readonly Id: string; readonly Name: string };
  /** Only for `.waitForTaskToken` resources. */
  readonly Task?: { readonly Token: string };
  /** Only while a Map evaluates its ItemSelector. */
  readonly Map?: { readonly Item: { readonly Index: number; readonly Value: unknown } };
}

export interface TaskInvocation {
  /** The Task's `Resource`, as written in the definition. */
  readonly resource: string;
  /** The evaluated `Parameters` (or the effective input without them): a fresh JSON copy the integration may keep. */
  readonly parameters: unknown;
  readonly stateName: string;
  readonly executionArn: string;
  readonly context: ContextObject;
  /** Aborted when the task times out, misses a heartbeat, or the execution stops; the result is then ignored. */
  readonly signal: AbortSignal;
  /** The Task's timeout, when it has one. */
  readonly timeoutSeconds?: number;
  /** For `.waitForTaskToken` resources: the token also given to Parameters as `$$.Task.Token`. */
  readonly taskToken?: string;
  /** Resets the `HeartbeatSeconds` timer; long-running integrations call it while they work. */
  heartbeat(): void;
  /** For `.sync` resources: records `TaskSubmitted` with what the create call returned (e.g. the job ARN). */
  submitted(output: unknown): void;
  readonly log: EngineLog;
}

/**
 * A service integration. Throw {@link StatesError} to fail the task with a chosen error name (`Lambda.ServiceException`,
 * `SageMaker.AmazonSageMakerException`, ...); anything else thrown becomes `States.TaskFailed` with the message as cause.
 */
export interface TaskIntegration {
  /** Named in refusals and logs. */
  readonly name: string;
  /** Whether this integration runs Tasks with this resource ARN. */
  handles(resource: string): boolean;
  /**
   * Checks a Task before the run (e.g. that a Lambda function exists); returns problems as `where.Field: message`.
   * Values given by `.$` keys are only known at run time.
   */
  check?(resource: string, parameters: PayloadTemplate | undefined, where: string): string[];
  invoke(invocation: TaskInvocation): Promise<unknown>;
}

/** The integrations an engine may use; the first whose `handles` answers true runs the task. */
export class IntegrationRegistry {
  private readonly integrations: TaskIntegration[] = [];

  constructor(integrations: readonly TaskIntegration[] = []) {
    for (const integration of integrations) this.register(integration);
  }

  register(integration: TaskIntegration): this {
    this.integrations.push(integration);
    return this;
  }

  find(resource: string): TaskIntegration | undefined {
    return this.integrations.find((integration) => integration.handles(resource));
  }

  /** Problems with a Task's resource, for the definition check. */
  check(resource: string, parameters: PayloadTemplate | undefined, where: string): string[] {
    const integration = this.find(resource);
    if (integration === undefined) {
      const names = this.integrations.map((i) => i.name).join(', ') || 'none';
      return [`${where}.Resource: no local integration runs "${resource}" (registered: ${names})`];
    }
    return integration.check?.(resource, parameters, where) ?? [];
  }
}

/**
 * An integration for exact service ARNs, e.g. `arn:aws:states:::sns:publish`; the partition is not compared so
 * `arn:aws-cn:...` matches too.
 */
export function serviceIntegration(
  name: string,
  resources: readonly string[],
  invoke: (invocation: TaskInvocation) => Promise<unknown>,
): TaskIntegration {
  const wanted = new Set(resources.map(withoutPartition));
  return { name, handles: (resource) => wanted.has(withoutPartition(resource)), invoke };
}

function withoutPartition(arn: string): string {
  return arn.replace(/^arn:aws[a-z-]*:/, 'arn:aws:');
}

/** `lambda` / `invoke` for `arn:aws:states:::lambda:invoke`, as history events name them. */
export function describeResource(resource: string): { resourceType: string; resource: string } {
  const match = /^arn:aws[a-z-]*:states:::([^:]+(?::[^:]+)?):(.+)$/.exec(resource);
  if (match && !match[1]?.startsWith('aws-sdk')) {
    return { resourceType: match[1] as string, resource: match[2] as string };
  }
  const sdk = /^arn:aws[a-z-]*:states:::aws-sdk:([^:]+):(.+)$/.exec(resource);
  if (sdk) return { resourceType: `aws-sdk:${sdk[1]}`, resource: sdk[2] as string };
  return { resourceType: 'unknown', resource };
}

/** A plain Lambda function ARN (`arn:aws:lambda:region:account:function:name`), whose result is the payload. */
export function isLambdaFunctionArn(resource: string): boolean {
  return /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:[^:]+(:[^:]+)?$/.test(resource);
}
