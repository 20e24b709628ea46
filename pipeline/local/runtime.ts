import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { type Log, silentLog } from '../../shared/logging.ts';
import { type ExecutionStarter, systemClock, type TransformJobControl } from '../../shared/ports.ts';
import type { StageHandler, StageHandlerFactory, Wire } from '../../shared/stage-handler.ts';
import { LocalBatchTransform, type ModelServerInstance } from './batch-transform.ts';
import { type RunningEmulator, startDynamoServer, startS3Server } from './emulators.ts';
import {
  type ExecutionHandle,
  type ExecutionResult,
  LocalEngine,
  type LocalLambdaFunction,
  type ProgressEvent,
} from './engine/index.ts';
import { fileNotifier, s3ListIntegration, snsFileIntegration, transformJobIntegration } from './local-integrations.ts';
import { explainServerFailure, type LocalServerProcess, runServers } from './local-server-health.ts';
import { createLocalClients } from './local-servers.ts';
import { runningService } from './local-service.ts';
import {
  createStackResources,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalFunction,
  type LocalStack,
  loadLocalStack,
} from './local-stack.ts';
import { startModelServer } from './model-server-process.ts';
import { importObject, storeImportSupported } from './s3-store-import.ts';
import { StageLogFile } from './stage-log-file.ts';
import { acquireStateLock } from './state-lock.ts';

/**
 * PUTs in flight while a local run uploads its dataset to servers it does not own (`nightshift local up`'s): one at
 * a time left the local S3 server idle between requests (issue 14); eight keep it busy without opening a socket per
 * file of a large folder.
 */
export const UPLOAD_CONCURRENCY = 8;

/** Files read and written at once when the runtime writes its own S3 server's store: enough to hide the disk. */
const IMPORT_CONCURRENCY = 16;

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
  /**
   * Each start-up step as it finishes (`synth`, `S3`, `DynamoDB`, `model load`), with its seconds since start-up
   * began: the steps run together, and the model load may end while a stage works.
   */
  readonly onStartupStep?: (step: string, seconds: number) => void;
}

export interface TransformProgress {
  readonly type: 'TransformProgress';
  readonly job: string;
  readonly objectsDone: number;
  readonly objectsTotal: number;
  readonly recordsDone: number;
}

/** The stores over the local servers: the stage handlers' ports, and what summaries and the CLI read. */
export interface LocalStores {
  readonly objects: S3ObjectStore;
  readonly runs: DynamoRunStore;
  readonly predictions: DynamoPredictionStore;
}

/**
 * The whole pipeline on one machine: the synthesized stack's state machine in the local engine, the real stage
 * handlers, the local S3 and DynamoDB servers (state kept under `home`), the model server as child processes and
 * the local batch transform. Every child process is stopped by {@link LocalRuntime.stop}.
 *
 * This is the local runtime's one wiring place: it builds the clients for the local servers and hands every stage
 * handler the same stores, a notifier that appends to `notifications.jsonl` and a logger that appends to
 * `logs/stages.jsonl`; each stage's settings come from its function's environment in the synthesized template.
 */
export class LocalRuntime {
  private constructor(
    readonly stack: LocalStack,
    readonly engine: LocalEngine,
    readonly s3: S3Client,
    readonly dynamo: DynamoDBClient,
    /** The document client over {@link dynamo}, for run-record reads and writes outside the stores. */
    readonly doc: DynamoDBDocumentClient,
    readonly endpoints: LocalEndpoints,
    /** Stores over the local servers, for summaries and the CLI. */
    readonly stores: LocalStores,
    private readonly servers: RunningEmulator[],
    private readonly modelServers: ModelServerInstance[],
    private readonly finalizeFailure: StageHandler<unknown>,
    readonly home: string,
    /** Whether the servers are `nightshift local up`'s (shared, left running) rather than this runtime's own. */
    readonly shared: boolean,
    private readonly releaseLock: () => Promise<void>,
    /** Aborts the model server's start when the runtime stops before it loaded. */
    private readonly modelLoad: AbortController,
    private readonly modelReady: Promise<unknown>,
    /** The S3, DynamoDB and model servers the run uses, for naming the one that died. */
    readonly localServers: readonly LocalServerProcess[],
  ) {}

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const log = options.log ?? silentLog;
    const { home } = options;
    await Promise.all(['s3', 'dynamodb', 'logs', 'reports'].map((dir) => mkdir(join(home, dir), { recursive: true })));
    const began = Date.now();
    const step =
      <T>(name: string) =>
      (value: T): T => {
        options.onStartupStep?.(name, (Date.now() - began) / 1000);
        return value;
      };
    const service = await runningService(home);
    // Without shared servers, this runtime's own servers need the folder to itself (a second would fail to open
    // the same data); the lock names the owner to anyone else who tries.
    const releaseLock = service ? async () => {} : await acquireStateLock(home);
    const servers: RunningEmulator[] = [];
    const modelServers: ModelServerInstance[] = [];
    const modelLoad = new AbortController();
    const localServers: LocalServerProcess[] = [];
    // Start-up steps run together (issue 14): the servers are child processes, spawned before the synth takes this
    // process's CPU. Each step's line gives its seconds since start-up began. The model loads in the background: the
    // plan and preprocess stages never call it, and the transform job waits for it (launchInstance below).
    const own = <T extends RunningEmulator>(server: T): T => {
      servers.push(server);
      return server;
    };
    const ownServers = service
      ? []
      : [
          startS3Server({ directory: join(home, 's3'), logFile: join(home, 'logs', 's3.log') })
            .then(own)
            .then(step('S3')),
          startDynamoServer({ directory: join(home, 'dynamodb'), logFile: join(home, 'logs', 'dynamodb.log') })
            .then(own)
            .then(step('DynamoDB')),
        ];
    const serversReady = service
      ? Promise.resolve({ s3: service.servers.s3.endpoint, dynamodb: service.servers.dynamodb.endpoint })
      : Promise.all(ownServers).then(([s3, dynamodb]) => ({
          s3: (s3 as RunningEmulator).endpoint,
          dynamodb: (dynamodb as RunningEmulator).endpoint,
        }));
    // The model server keeps its rewritten graphs in the state directory: later runs skip the rewrite.
    const modelServerEnv = { NIGHTSHIFT_MODEL_CACHE_DIR: join(home, 'cache', 'models'), ...options.modelServerEnv };
    const modelReady: Promise<ModelServerInstance> = service
      ? Promise.resolve({ endpoint: service.servers.model.endpoint, stop: async () => undefined })
      : startModelServer({
          env: { ...modelServerEnv },
          logFile: join(home, 'logs', 'model.log'),
          signal: modelLoad.signal,
        }).then((server) => {
          modelServers.push(server);
          localServers.push(...runServers(home, { emulators: [], model: server }));
          return step<ModelServerInstance>('model load')(server);
        });
    // Settled by whoever awaits it: the transform job, or stop() (a run that ended before its transform).
    modelReady.catch(() => undefined);
    serversReady.catch(() => undefined);
    try {
      const { stack, cached } = await loadLocalStack(home);
      step(cached ? 'synth (cached)' : 'synth')(undefined);
      const serverEndpoints = await serversReady;
      // Our own servers are named once they answer, the model once it loaded (a shared service's, all at once).
      localServers.push(
        ...(service
          ? runServers(home, service)
          : runServers(home, { emulators: servers, model: { endpoint: '' } }).slice(0, servers.length)),
      );
      const { s3, dynamo, doc } = createLocalClients(serverEndpoints);
      const stores: LocalStores = {
        objects: new S3ObjectStore(s3),
        runs: new DynamoRunStore(doc, stack.runsTable, systemClock),
        predictions: new DynamoPredictionStore(doc, stack.predictionsTable),
      };
      await createStackResources(stack, s3, dynamo);
      // The trigger's starter starts executions on this engine, built below; nothing invokes it before then.
      let engine: LocalEngine | undefined;
      const starter: ExecutionStarter = {
        start: async ({ name, input }) => {
          if (!engine) throw new Error('the local engine is not running yet');
          try {
            const handle = engine.startExecution({
              definition: stack.definition,
              name,
              input,
              stateMachineArn: stack.stateMachineArn,
            });
            return { started: true, executionArn: handle.executionArn };
          } catch (error) {
            if (/^ExecutionAlreadyExists/.test((error as Error).message)) {
              return { started: false, reason: 'already-exists' };
            }
            throw error;
          }
        },
      };
      // finalize-failure stops a failed run's transform job on the local batch transform, built below.
      let batchTransform: LocalBatchTransform | undefined;
      const transformJobs: TransformJobControl = {
        stopIfRunning: async (name) => (batchTransform ? batchTransform.stopIfRunning(name) : 'not-running'),
      };
      const logFile = join(home, 'logs', 'stages.jsonl');
      const notifier = fileNotifier(join(home, 'notifications.jsonl'));
      const wireFor =
        (fn: LocalFunction): Wire =>
        (stage) => {
          const config = parseStageConfig(fn.environment);
          const logger = StageLogFile.forStage(logFile, stage, config.logLevel);
          return { ...stores, config, clock: systemClock, notifier, starter, transformJobs, logger };
        };
      // A stage that lost a server fails at once naming it, instead of retrying against a dead port.
      const handlers = await createStageHandlers(stack, wireFor, (error, runId) =>
        explainServerFailure(error, localServers, { runId, shared: service !== undefined }),
      );
      const lambdaFunctions = Object.fromEntries(
        stack.functions.map((fn) => [
          fn.name,
          { handler: handlers[fn.name], timeoutSeconds: fn.timeoutSeconds, memorySizeMb: fn.memorySizeMb },
        ]),
      ) as Record<string, LocalLambdaFunction>;
      const finalizeFailure = stack.functions.find((fn) => fn.stage === 'finalize-failure');
      if (!finalizeFailure) throw new Error('the synthesized template has no finalize-failure function');

      batchTransform = new LocalBatchTransform({
        objects: stores.objects,
        clock: systemClock,
        log,
        region: LOCAL_REGION,
        account: LOCAL_ACCOUNT,
        // Instance 0 is the server started with the runtime (awaited until /ping answers); more instances start per
        // job and stop after it.
        launchInstance: async (index) => {
          if (index === 0) {
            const first = await modelReady;
            return { endpoint: first.endpoint, stop: async () => undefined };
          }
          return startModelServer({ env: { ...modelServerEnv }, logFile: join(home, 'logs', 'model.log') });
        },
        onProgress: (event) => options.onProgress?.({ type: 'TransformProgress', ...event }),
      });
      engine = new LocalEngine({
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
        ...serverEndpoints,
        pipelineBucket: stack.pipelineBucket,
        runsTable: stack.runsTable,
        predictionsTable: stack.predictionsTable,
        stateMachineArn: stack.stateMachineArn,
      };
      const { s3: _s3, dynamodb: _dynamodb, ...names } = endpoints;
      await writeFile(join(home, 'local-names.json'), `${JSON.stringify(names, null, 2)}\n`);
      const runtime = new LocalRuntime(
        stack,
        engine,
        s3,
        dynamo,
        doc,
        endpoints,
        stores,
        servers,
        modelServers,
        handlers[finalizeFailure.name] as StageHandler<unknown>,
        home,
        service !== undefined,
        releaseLock,
        modelLoad,
        modelReady,
        localServers,
      );
      // While this runtime lives, `nightshift --local` (status, watch, predictions) in another terminal uses its
      // servers (the shared servers of `local up` are published already).
      if (!service) await runtime.publishEndpoints();
      return runtime;
    } catch (error) {
      modelLoad.abort();
      await Promise.allSettled([...ownServers, modelReady]);
      await Promise.all([...modelServers, ...servers].map((server) => server.stop().catch(() => undefined)));
      await releaseLock();
      throw error;
    }
  }

  /**
   * Puts files into the pipeline bucket under `prefix`. With its own S3 server the runtime writes them into that
   * server's store as its PutObject would (s3-store-import.ts), {@link IMPORT_CONCURRENCY} at a time; with shared
   * servers it PUTs them, {@link UPLOAD_CONCURRENCY} at a time. A body given as a function is read when its file's
   * turn comes, so a large folder is never held in memory at once.
   */
  async upload(
    prefix: string,
    files: Iterable<{ name: string; body: Uint8Array | string | (() => Promise<Uint8Array | string>) }>,
  ): Promise<void> {
    const bucket = this.stack.pipelineBucket;
    const store = this.ownStore;
    const limit = pLimit(store ? IMPORT_CONCURRENCY : UPLOAD_CONCURRENCY);
    await Promise.all(
      Array.from(files, (file) =>
        limit(async () => {
          const body = typeof file.body === 'function' ? await file.body() : file.body;
          const key = `${prefix}${file.name}`;
          if (store) await importObject(store, bucket, key, body);
          else await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        }),
      ),
    );
  }

  /** The store directory of the S3 server this runtime started, when {@link upload} may write it directly. */
  private get ownStore(): string | undefined {
    return !this.shared && storeImportSupported() ? join(this.home, 's3') : undefined;
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
    await this.finalizeFailure(event);
  }

  /** `error` naming the local server that died, when a connection failure (or any error) finds one gone. */
  explainFailure(error: unknown, runId?: string): Promise<unknown> {
    return explainServerFailure(error, this.localServers, { ...(runId ? { runId } : {}), shared: this.shared }, true);
  }

  /** Writes `local-endpoints.json`, so `nightshift --local` and the AWS CLI can use the servers left running. */
  async publishEndpoints(): Promise<void> {
    await writeFile(join(this.home, 'local-endpoints.json'), `${JSON.stringify(this.endpoints, null, 2)}\n`);
  }

  /** Stops the model servers and the local S3/DynamoDB servers (their data stays under `home`). */
  async stop(): Promise<void> {
    this.s3.destroy();
    this.dynamo.destroy();
    this.modelLoad.abort();
    await this.modelReady.catch(() => undefined);
    await Promise.all([...this.modelServers, ...this.servers].map((server) => server.stop().catch(() => undefined)));
    if (!this.shared) await rm(join(this.home, 'local-endpoints.json'), { force: true });
    await this.releaseLock();
  }
}

/**
 * Every stage function of the template as a handler in this process, keyed by the function name: the stage's
 * `createHandler` (stages/<stage>/handler.ts) with the local wiring of that function. A handler's error passes
 * through `explain` (the local runtime names a dead server).
 */
async function createStageHandlers(
  stack: LocalStack,
  wireFor: (fn: LocalFunction) => Wire,
  explain: (error: unknown, runId: string | undefined) => Promise<unknown>,
): Promise<Record<string, StageHandler<unknown>>> {
  const entries = await Promise.all(
    stack.functions.map(async (fn) => {
      const { createHandler } = (await import(`../../stages/${fn.stage}/handler.ts`)) as {
        createHandler: StageHandlerFactory<unknown>;
      };
      const handler = createHandler(wireFor(fn));
      const explained: StageHandler<unknown> = async (event) => {
        try {
          return await handler(event);
        } catch (error) {
          throw await explain(error, createHandler.runIdOf(event));
        }
      };
      return [fn.name, explained] as const;
    }),
  );
  return Object.fromEntries(entries);
}
