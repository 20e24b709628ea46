import { parseArgs } from 'node:util';
import { z } from 'zod';
import { InvalidInputError } from '../../shared/errors.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import type { LogLevel } from '../../shared/logging.ts';
import type { ExecutionProviderPreference } from './execution-provider.ts';

/** The port SageMaker sends requests to. */
export const SAGEMAKER_PORT = 8080;

const port = z.coerce.number().int().min(0).max(65_535);
const positive = z.coerce.number().int().positive();
const flag = z
  .enum(['true', 'True', 'TRUE', '1', 'false', 'False', 'FALSE', '0'])
  .transform((value) => ['true', 'True', 'TRUE', '1'].includes(value));

/**
 * The environment the server reads. SageMaker sets the `SAGEMAKER_*` variables for a batch transform job (from
 * the job's own settings: a variable the job leaves unset is absent); the rest are ours.
 */
export const ServerEnvSchema = z.object({
  /** Set by SageMaker for multi-container endpoints; takes precedence over `PORT`. */
  SAGEMAKER_BIND_TO_PORT: port.optional(),
  PORT: port.optional(),
  MODEL_DIR: z.string().min(1).optional(),
  /** `true` inside a batch transform job. */
  SAGEMAKER_BATCH: flag.optional(),
  SAGEMAKER_BATCH_STRATEGY: z.enum(['SINGLE_RECORD', 'MULTI_RECORD']).optional(),
  /** The largest request body SageMaker sends; 0: no limit (SageMaker may stream larger bodies, chunked). */
  SAGEMAKER_MAX_PAYLOAD_IN_MB: z.coerce.number().int().min(0).max(100).optional(),
  /** Requests SageMaker keeps open at once; 0 means the job set none. */
  SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: z.coerce.number().int().min(0).max(1024).optional(),
  NIGHTSHIFT_EXECUTION_PROVIDER: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
  /**
   * Inference worker threads. The SageMaker Python SDK sets it from `Model(model_server_workers=...)`, documented
   * as "the number of worker processes used by the inference server; if None, one worker per vCPU".
   * @default one per core on the CPU (at most MaxConcurrentTransforms), one on a GPU
   */
  SAGEMAKER_MODEL_SERVER_WORKERS: positive.max(256).optional(),
  /** Threads for one CPU inference in each worker. @default the cores shared out among the workers */
  NIGHTSHIFT_INTRA_OP_THREADS: positive.max(256).optional(),
  /**
   * Requests that may wait for a turn beyond the MaxConcurrentTransforms being predicted; past it, 503. Batch
   * Transform never sends more than MaxConcurrentTransforms at once, so only a real-time endpoint or a plain
   * client ever sees the 503. @default MaxConcurrentTransforms
   */
  NIGHTSHIFT_MAX_QUEUED_REQUESTS: z.coerce.number().int().min(0).max(4096).optional(),
  /**
   * A directory for what the server derives from the model files (the OCR handler's rewritten graphs), reused by
   * later starts: the local runtime points it into its state directory. Absent: derived again at every start.
   */
  NIGHTSHIFT_MODEL_CACHE_DIR: z.string().min(1).optional(),
  /** Records decoded and predicted together: bounds memory for large payloads and sets the batch handlers see. */
  NIGHTSHIFT_IMAGES_PER_BATCH: positive.max(1024).default(16),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
});

export interface ServerConfig {
  readonly host: string;
  /** 0 asks the OS for a free port; the port chosen is logged ("model server listening"). */
  readonly port: number;
  /** Named by `--model-dir` or `MODEL_DIR`; absent: SageMaker's directory or the bundled OCR model. */
  readonly modelDirectory?: string;
  /** `NIGHTSHIFT_MODEL_CACHE_DIR`; absent: no cache. */
  readonly modelCacheDirectory?: string;
  readonly executionProvider: ExecutionProviderPreference;
  /** Absent: the pool shares the cores out among its workers. */
  readonly intraOpThreads?: number;
  readonly workers?: number;
  readonly maxQueuedRequests?: number;
  readonly imagesPerBatch: number;
  /** Running inside a batch transform job (`SAGEMAKER_BATCH`). */
  readonly batchTransform: boolean;
  readonly batchStrategy?: 'SINGLE_RECORD' | 'MULTI_RECORD';
  /** From the job; absent when it set none (the server then enforces what it recommends); 0 = no limit. */
  readonly maxPayloadInMB?: number;
  readonly maxConcurrentTransforms?: number;
  /** Exit when stdin closes: for a parent process that supervises the server (tests, the local runtime). */
  readonly exitWithStdin: boolean;
  readonly logLevel: LogLevel;
}

const USAGE = 'usage: serve [--port N] [--host ADDRESS] [--model-dir DIR] [--exit-with-stdin]';

/**
 * Parses the command line (`serve`, as SageMaker starts the container, is accepted and ignored) and the
 * environment, naming every bad option or variable. Options win over the environment.
 */
export function parseServerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServerConfig {
  let values: { port?: string; host?: string; 'model-dir'?: string; 'exit-with-stdin'?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'model-dir': { type: 'string' },
        'exit-with-stdin': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    throw new InvalidInputError(`${(error as Error).message}; ${USAGE}`);
  }
  const extra = positionals.filter((positional) => positional !== 'serve');
  if (extra.length > 0) throw new InvalidInputError(`unexpected argument(s) ${extra.join(' ')}; ${USAGE}`);

  const parsed = ServerEnvSchema.safeParse(env);
  if (!parsed.success) throw new InvalidInputError(formatIssues(parsed.error, 'the model server environment'));
  const e = parsed.data;

  let chosenPort = e.SAGEMAKER_BIND_TO_PORT ?? e.PORT ?? SAGEMAKER_PORT;
  if (values.port !== undefined) {
    const option = port.safeParse(values.port);
    if (!option.success) throw new InvalidInputError(`--port ${values.port} is not a port number (0-65535)`);
    chosenPort = option.data;
  }
  const modelDirectory = values['model-dir'] ?? e.MODEL_DIR;
  return Object.freeze({
    // SageMaker reaches the container from outside it, so the default listens on every interface.
    host: values.host ?? '0.0.0.0',
    port: chosenPort,
    ...(modelDirectory !== undefined ? { modelDirectory } : {}),
    ...(e.NIGHTSHIFT_MODEL_CACHE_DIR !== undefined ? { modelCacheDirectory: e.NIGHTSHIFT_MODEL_CACHE_DIR } : {}),
    executionProvider: e.NIGHTSHIFT_EXECUTION_PROVIDER,
    ...(e.NIGHTSHIFT_INTRA_OP_THREADS !== undefined ? { intraOpThreads: e.NIGHTSHIFT_INTRA_OP_THREADS } : {}),
    ...(e.SAGEMAKER_MODEL_SERVER_WORKERS !== undefined ? { workers: e.SAGEMAKER_MODEL_SERVER_WORKERS } : {}),
    ...(e.NIGHTSHIFT_MAX_QUEUED_REQUESTS !== undefined ? { maxQueuedRequests: e.NIGHTSHIFT_MAX_QUEUED_REQUESTS } : {}),
    imagesPerBatch: e.NIGHTSHIFT_IMAGES_PER_BATCH,
    batchTransform: e.SAGEMAKER_BATCH ?? false,
    ...(e.SAGEMAKER_BATCH_STRATEGY !== undefined ? { batchStrategy: e.SAGEMAKER_BATCH_STRATEGY } : {}),
    ...(e.SAGEMAKER_MAX_PAYLOAD_IN_MB !== undefined ? { maxPayloadInMB: e.SAGEMAKER_MAX_PAYLOAD_IN_MB } : {}),
    ...(e.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS
      ? { maxConcurrentTransforms: e.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS }
      : {}),
    exitWithStdin: values['exit-with-stdin'] ?? false,
    logLevel: e.LOG_LEVEL,
  });
}
