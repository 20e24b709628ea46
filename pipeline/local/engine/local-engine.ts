/**
 * The local Step Functions engine: runs an Amazon States Language definition (JSONPath query language), as
 * `cdk synth` emits it with its CloudFormation references resolved, on this machine. Tasks go to pluggable
 * integrations; Distributed Map reads and writes S3 through the given client (the local S3 server in a local run).
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { StateMachineDefinition } from './asl.ts';
import { parseDefinition } from './definition.ts';
import { ExecutionInputError } from './engine-errors.ts';
import { type EngineLog, silentEngineLog } from './engine-log.ts';
import type { EngineServices } from './engine-services.ts';
import type { ExecutionResult, ExecutionStatus, MapRunDescription } from './engine-types.ts';
import { IntegrationRegistry, type TaskIntegration } from './integrations.ts';
import { ExecutionRun } from './interpreter.ts';
import { type LocalLambdaFunction, lambdaIntegration } from './lambda-integration.ts';
import { PAYLOAD_LIMIT_BYTES } from './payload-limit.ts';
import type { ProgressListener } from './progress-events.ts';
import { type EngineClock, realClock, realSleeper, type Sleeper } from './timers.ts';

export interface LocalEngineOptions {
  /** Task integrations, tried in order; the first whose `handles` accepts a resource runs it. @default - none */
  readonly integrations?: readonly TaskIntegration[] | IntegrationRegistry;
  /**
   * In-process Lambda functions by name, served by {@link lambdaIntegration} (registered after `integrations`)
   * with the engine's sleeper. @default - no Lambda functions
   */
  readonly lambdaFunctions?: Readonly<Record<string, LocalLambdaFunction>>;
  /** The S3 client Distributed Map's ItemReader and ResultWriter use. @default - definitions using them are refused */
  readonly s3?: S3Client;
  /** @default - the system clock */
  readonly clock?: EngineClock;
  /** @default - Node timers */
  readonly sleeper?: Sleeper;
  /** @default - no logging */
  readonly log?: EngineLog;
  /** Called for every progress event of every execution. @default - none */
  readonly onProgress?: ProgressListener;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '123456789012' */
  readonly accountId?: string;
  /** `$$.Execution.RoleArn`. @default - a role named StepFunctionsLocalRole */
  readonly roleArn?: string;
  /** Randomness for jitter and States.MathRandom, uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** States.UUID. @default crypto.randomUUID */
  readonly uuid?: () => string;
  /**
   * The most Map iterations, Parallel branches or child executions one state runs at once, whatever its
   * MaxConcurrency allows: everything runs in this process. @default 64
   */
  readonly concurrencyCap?: number;
}

export interface StartExecutionRequest {
  /** The definition object or its JSON text. */
  readonly definition: unknown;
  /** @default - a UUID */
  readonly name?: string;
  /** @default {} */
  readonly input?: unknown;
  /** @default - arn:aws:states:<region>:<account>:stateMachine:LocalStateMachine */
  readonly stateMachineArn?: string;
}

/** A running or finished execution. */
export interface ExecutionHandle {
  readonly executionArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  /** Settles when the execution ends; never rejects. */
  result(): Promise<ExecutionResult>;
  /** The events so far, as `GetExecutionHistory` returns them. */
  history(): readonly HistoryEvent[];
  /** `StopExecution`: the execution ends ABORTED; running tasks are abandoned. */
  stop(options?: { readonly error?: string; readonly cause?: string }): Promise<ExecutionResult>;
  /** The Map Runs this execution started. */
  mapRuns(): MapRunDescription[];
}

/** Execution names: 1 to 80 characters, none of the characters StartExecution rejects. */
function isExecutionName(name: string): boolean {
  if (name.length < 1 || name.length > 80 || /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/.test(name)) return false;
  return [...name].every((char) => {
    const code = char.codePointAt(0) as number;
    return !(code <= 0x1f || (code >= 0x7f && code <= 0x9f));
  });
}

export class LocalEngine {
  private readonly services: EngineServices;
  private readonly executions = new Map<
    string,
    { run: ExecutionRun; inputText: string; done: Promise<ExecutionResult> }
  >();

  constructor(options: LocalEngineOptions = {}) {
    const sleeper = options.sleeper ?? realSleeper;
    const registry =
      options.integrations instanceof IntegrationRegistry
        ? options.integrations
        : new IntegrationRegistry(options.integrations ?? []);
    if (options.lambdaFunctions) {
      registry.register(
        lambdaIntegration({
          functions: options.lambdaFunctions,
          sleeper,
          ...(options.region ? { region: options.region } : {}),
          ...(options.accountId ? { accountId: options.accountId } : {}),
        }),
      );
    }
    const region = options.region ?? 'us-east-1';
    const accountId = options.accountId ?? '123456789012';
    this.services = {
      clock: options.clock ?? realClock,
      sleeper,
      integrations: registry,
      s3: options.s3,
      log: options.log ?? silentEngineLog,
      intrinsics: { random: options.random ?? Math.random, uuid: options.uuid ?? randomUUID },
      emit: options.onProgress ?? (() => undefined),
      region,
      accountId,
      roleArn: options.roleArn ?? `arn:aws:iam::${accountId}:role/StepFunctionsLocalRole`,
      concurrencyCap: options.concurrencyCap ?? 64,
      mapRuns: new Map(),
    };
  }

  /**
   * Checks a definition and returns it normalised; throws {@link DefinitionError} naming every state and field the
   * engine cannot run. `startExecution` does the same before it starts anything.
   */
  validate(definition: unknown): StateMachineDefinition {
    return parseDefinition(definition, {
      checkTask: (resource, parameters, where) => this.services.integrations.check(resource, parameters, where),
      s3: this.services.s3 !== undefined,
    });
  }

  startExecution(request: StartExecutionRequest): ExecutionHandle {
    const definition = this.validate(request.definition);
    const { region, accountId } = this.services;
    const stateMachineArn =
      request.stateMachineArn ?? `arn:aws:states:${region}:${accountId}:stateMachine:LocalStateMachine`;
    const stateMachineName = stateMachineArn.split(':').at(-1) ?? 'LocalStateMachine';
    const name = request.name ?? randomUUID();
    if (!isExecutionName(name)) {
      throw new ExecutionInputError(
        `execution name "${name}" is invalid: 1 to 80 characters, without white space, brackets, wildcards or " # % \\ ^ | ~ \` $ & , ; : /`,
      );
    }
    const input = request.input === undefined ? {} : request.input;
    const inputText = JSON.stringify(input);
    if (inputText === undefined) throw new ExecutionInputError('the execution input must be JSON-serialisable');
    const bytes = Buffer.byteLength(inputText, 'utf8');
    if (bytes > PAYLOAD_LIMIT_BYTES) {
      throw new ExecutionInputError(
        `the execution input has ${bytes} bytes; Step Functions accepts at most ${PAYLOAD_LIMIT_BYTES}`,
      );
    }
    const executionArn = `arn:aws:states:${region}:${accountId}:execution:${stateMachineName}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // StartExecution is idempotent for a running Standard execution with the same name and input; otherwise
      // the name is taken (ExecutionAlreadyExists).
      if (existing.run.status === 'RUNNING' && existing.inputText === inputText) return this.handle(executionArn);
      throw new ExecutionInputError(
        `ExecutionAlreadyExists: an execution named "${name}" already exists for ${stateMachineArn}`,
      );
    }
    const run = new ExecutionRun(
      this.services,
      {
        arn: executionArn,
        name,
        input: JSON.parse(inputText),
        startTime: this.services.clock.now(),
        stateMachine: { arn: stateMachineArn, name: stateMachineName },
        type: 'STANDARD',
        redriveCount: 0,
      },
      definition,
      definition.TimeoutSeconds,
    );
    this.executions.set(executionArn, { run, inputText, done: run.run() });
    return this.handle(executionArn);
  }

  /** `DescribeMapRun`. */
  describeMapRun(mapRunArn: string): MapRunDescription | undefined {
    return this.services.mapRuns.get(mapRunArn);
  }

  /** `ListMapRuns` for one execution. */
  listMapRuns(executionArn: string): MapRunDescription[] {
    return [...this.services.mapRuns.values()].filter((run) => run.executionArn === executionArn);
  }

  private handle(executionArn: string): ExecutionHandle {
    const entry = this.executions.get(executionArn);
    if (entry === undefined) throw new Error(`no execution ${executionArn}`);
    const { run, done } = entry;
    return {
      executionArn,
      name: run.scope.name,
      get status() {
        return run.status;
      },
      result: () => done,
      history: () => run.history.list(),
      stop: (options = {}) => {
        run.stop(options.error, options.cause);
        return done;
      },
      mapRuns: () => this.listMapRuns(executionArn),
    };
  }
}
