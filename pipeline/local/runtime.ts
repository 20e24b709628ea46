import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { type Log, silentLog } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import { runFinalizeExecution } from '../../stages/finalize-failure/finalize-failure.ts';
import { LocalBatchTransform, type ModelServerInstance } from './batch-transform.ts';
import { type RunningEmulator, startDynamoServer, startS3Server } from './emulators.ts';
import {
  type ExecutionHandle,
  type ExecutionResult,
  LocalEngine,
  type LocalLambdaFunction,
  type ProgressEvent,
} from './engine/index.ts';
import { s3ListIntegration, snsFileIntegration, transformJobIntegration } from './local-integrations.ts';
import {
  createStackResources,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalStack,
  synthesizeLocalStack,
} from './local-stack.ts';
import { startModelServer } from './model-server-process.ts';
import { StageLogCapture } from './stage-log-capture.ts';

/** What a client needs to reach a local run's servers and resources (the CLI's --local mode reads these). */
export interface LocalNames {
  readonly pipelineBucket: string;
  readonly runsTable: string;
  readonly predictionsTable: string;
  readonly stateMachineArn: string;
}

export interface LocalEndpoints extends LocalNames {
  readonly s3: string;
  readonly dynamodb: string;
}

export interface LocalRuntimeOptions {
  /** State folder (`.nightshift/` in the project): S3 objects, DynamoDB tables, logs, reports. */
  readonly home: string;
  readonly log?: Log;
  /** Progress of executions, map runs and the transform job. */
  readonly onProgress?: (event: ProgressEvent | TransformProgress) => void;
  /** Environment for the model-server processes. */
  readonly modelServerEnv?: Record<string, string>;
}

export interface TransformProgress {
  readonly type: 'TransformProgress';
  readonly job: string;
  readonly objectsDone: number;
  readonly objectsTotal: number;
  readonly recordsDone: number;
}

/**
 * The whole pipeline on one machine: the synthesized stack's state machine in the local engine, the real stage
 * handlers, the local S3 and DynamoDB servers (state kept under `home`), the model server as child processes and
 * the local batch transform. Every child process is stopped by {@link LocalRuntime.stop}.
 */
export class LocalRuntime {
  private constructor(
    readonly stack: LocalStack,
    readonly engine: LocalEngine,
    readonly s3: S3Client,
    readonly dynamo: DynamoDBClient,
    readonly endpoints: LocalEndpoints,
    private readonly servers: RunningEmulator[],
    private readonly modelServers: ModelServerInstance[],
    private readonly logCapture: StageLogCapture,
    readonly home: string,
    private readonly batchTransform: LocalBatchTransform,
  ) {}

  /** Stores over the local servers, for summaries and the CLI. */
  get stores() {
    if (!this.cachedStores) {
      const doc = DynamoDBDocumentClient.from(this.dynamo, { marshallOptions: { removeUndefinedValues: true } });
      this.cachedStores = {
        objects: new S3ObjectStore(this.s3),
        runs: new DynamoRunStore(doc, this.stack.runsTable, systemClock),
        predictions: new DynamoPredictionStore(doc, this.stack.predictionsTable),
      };
    }
    return this.cachedStores;
  }

  private cachedStores?: { objects: S3ObjectStore; runs: DynamoRunStore; predictions: DynamoPredictionStore };

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const log = options.log ?? silentLog;
    const { home } = options;
    await Promise.all(['s3', 'dynamodb', 'logs', 'reports'].map((dir) => mkdir(join(home, dir), { recursive: true })));
    const stack = synthesizeLocalStack();
    const servers: RunningEmulator[] = [];
    const modelServers: ModelServerInstance[] = [];
    const logCapture = new StageLogCapture(join(home, 'logs', 'stages.jsonl'));
    try {
      // The same ports as last time when they are free: endpoints stay stable for tools, and stage handlers that
      // already built their clients in this process keep reaching the servers.
      const ports = await readPorts(join(home, 'ports.json'));
      servers.push(await startOnPort((port) => startS3Server({ directory: join(home, 's3'), port }), ports.s3));
      servers.push(
        await startOnPort((port) => startDynamoServer({ directory: join(home, 'dynamodb'), port }), ports.dynamodb),
      );
      await writeFile(
        join(home, 'ports.json'),
        `${JSON.stringify({ s3: portOf(servers[0]), dynamodb: portOf(servers[1]) })}\n`,
      );
      const [s3Server, dynamoServer] = servers as [RunningEmulator, RunningEmulator];
      // The stage handlers build their clients from the environment, as in Lambda: point it at the local servers.
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_S3: s3Server.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamoServer.endpoint,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REGION: LOCAL_REGION,
      });
      delete process.env.AWS_PROFILE;
      delete process.env.AWS_SESSION_TOKEN;
      const s3 = new S3Client(s3ClientConfig(process.env));
      const dynamo = new DynamoDBClient({});
      await createStackResources(stack, s3, dynamo);
      const lambdaFunctions = await loadStageHandlers(stack);

      log.info('starting the model server');
      const first = await startModelServer({ env: { ...options.modelServerEnv } });
      modelServers.push(first);
      const batchTransform = new LocalBatchTransform({
        objects: new S3ObjectStore(s3),
        clock: systemClock,
        log,
        region: LOCAL_REGION,
        account: LOCAL_ACCOUNT,
        // Instance 0 is the server started (and /ping-ed) up front; more instances start per job and stop after it.
        launchInstance: async (index) => {
          if (index === 0) return { endpoint: first.endpoint, stop: async () => undefined };
          return startModelServer({ env: { ...options.modelServerEnv } });
        },
        onProgress: (event) => options.onProgress?.({ type: 'TransformProgress', ...event }),
      });
      const engine = new LocalEngine({
        lambdaFunctions,
        integrations: [
          ...transformJobIntegration(batchTransform, stack.modelName),
          s3ListIntegration(s3),
          snsFileIntegration(join(home, 'notifications.jsonl'), (message) => log.warn('notification', message)),
        ],
        s3,
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT,
        log,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      // Anything the engine cannot run is refused here, naming the state and the field, before any run starts.
      engine.validate(stack.definition);
      const endpoints: LocalEndpoints = {
        s3: s3Server.endpoint,
        dynamodb: dynamoServer.endpoint,
        pipelineBucket: stack.pipelineBucket,
        runsTable: stack.runsTable,
        predictionsTable: stack.predictionsTable,
        stateMachineArn: stack.stateMachineArn,
      };
      const { s3: _s3, dynamodb: _dynamodb, ...names } = endpoints;
      await writeFile(join(home, 'local-names.json'), `${JSON.stringify(names, null, 2)}\n`);
      logCapture.start();
      const runtime = new LocalRuntime(
        stack,
        engine,
        s3,
        dynamo,
        endpoints,
        servers,
        modelServers,
        logCapture,
        home,
        batchTransform,
      );
      // While this runtime lives, `nightshift --local` (status, watch, predictions) in another terminal uses its servers.
      await runtime.publishEndpoints();
      return runtime;
    } catch (error) {
      logCapture.stop();
      await Promise.all([...modelServers, ...servers].map((server) => server.stop().catch(() => undefined)));
      throw error;
    }
  }

  /** Uploads files to the pipeline bucket under `prefix`. */
  async upload(prefix: string, files: ReadonlyArray<{ name: string; body: Uint8Array | string }>): Promise<void> {
    for (const file of files) {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.stack.pipelineBucket, Key: `${prefix}${file.name}`, Body: file.body }),
      );
    }
  }

  /** Starts the synthesized state machine with an execution input. */
  startRun(name: string, input: unknown): ExecutionHandle {
    return this.engine.startExecution({
      definition: this.stack.definition,
      name,
      input,
      stateMachineArn: this.stack.stateMachineArn,
    });
  }

  /**
   * What the stack's EventBridge rule does in AWS: an execution that ended FAILED, TIMED_OUT or ABORTED goes to
   * finalize-failure (which skips a failure the state machine already finalized), and its notification is
   * appended to notifications.jsonl.
   */
  async finalizeEnded(handle: ExecutionHandle, result: ExecutionResult, input: unknown): Promise<void> {
    if (result.status === 'SUCCEEDED') return;
    const event = {
      source: 'aws.states' as const,
      'detail-type': 'Step Functions Execution Status Change' as const,
      detail: {
        executionArn: handle.executionArn,
        stateMachineArn: this.stack.stateMachineArn,
        name: handle.name,
        status: result.status,
        input: JSON.stringify(input),
        error: result.error ?? null,
        cause: result.cause ?? null,
        redriveCount: 0,
      },
    };
    const file = join(this.home, 'notifications.jsonl');
    await runFinalizeExecution(event, {
      ...this.stores,
      clock: systemClock,
      log: silentLog,
      transformJobs: this.batchTransform,
      notifier: {
        publish: async (notification) => {
          await appendFile(
            file,
            `${JSON.stringify({ at: new Date().toISOString(), subject: notification.subject, message: notification.message })}\n`,
          );
        },
      },
    });
  }

  /** Writes `local-endpoints.json`, so `nightshift --local` and the AWS CLI can use the servers left running. */
  async publishEndpoints(): Promise<void> {
    await writeFile(join(this.home, 'local-endpoints.json'), `${JSON.stringify(this.endpoints, null, 2)}\n`);
  }

  /** Stops the model servers and the local S3/DynamoDB servers (their data stays under `home`). */
  async stop(): Promise<void> {
    this.logCapture.stop();
    this.s3.destroy();
    this.dynamo.destroy();
    await Promise.all([...this.modelServers, ...this.servers].map((server) => server.stop().catch(() => undefined)));
    const { rm } = await import('node:fs/promises');
    await rm(join(this.home, 'local-endpoints.json'), { force: true });
  }
}

/**
 * The stage handlers, in this process, keyed by the local function name. They share process.env, so the
 * template's environments must agree on every variable they both set.
 */
async function loadStageHandlers(stack: LocalStack): Promise<Record<string, LocalLambdaFunction>> {
  const merged: Record<string, string> = {};
  for (const fn of stack.functions) {
    for (const [key, value] of Object.entries(fn.environment)) {
      if (key in merged && merged[key] !== value) {
        throw new Error(
          `stage functions disagree on ${key} (${merged[key]} vs ${value}); they share one local process`,
        );
      }
      merged[key] = value;
    }
  }
  delete merged.NODE_OPTIONS;
  Object.assign(process.env, merged);
  const entries = await Promise.all(
    stack.functions.map(async (fn) => {
      const module = (await import(`../../stages/${fn.stage}/handler.ts`)) as {
        handler: LocalLambdaFunction['handler'];
      };
      return [
        fn.name,
        { handler: module.handler, timeoutSeconds: fn.timeoutSeconds, memorySizeMb: fn.memorySizeMb },
      ] as const;
    }),
  );
  return Object.fromEntries(entries);
}

async function readPorts(file: string): Promise<{ s3?: number; dynamodb?: number }> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { s3?: number; dynamodb?: number };
  } catch {
    return {};
  }
}

async function startOnPort(
  start: (port: number) => Promise<RunningEmulator>,
  port: number | undefined,
): Promise<RunningEmulator> {
  if (port) {
    try {
      return await start(port);
    } catch {
      // Taken by something else: any free port will do.
    }
  }
  return start(0);
}

function portOf(server: RunningEmulator | undefined): number {
  return Number(new URL(server?.endpoint ?? 'http://127.0.0.1:0').port);
}
