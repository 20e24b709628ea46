import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Log } from '../../shared/logging.ts';
import type { ExecutionProvider } from './execution-provider.ts';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './inference-messages.ts';
import type { DecodedImage, ModelHandler, ModelIdentity, Prediction } from './model-handler.ts';

/** How many workers, and how many intra-op threads each. */
export interface PoolSize {
  readonly workers: number;
  readonly intraOpThreads: number;
}

/**
 * Sizes the pool for this machine. On the CPU, one worker per core with one intra-op thread each by default:
 * requests then run side by side, each with its JavaScript work (OpenCV.js, tensors, CTC decoding) on its own
 * core, instead of one request at a time with idle cores during that work. `SAGEMAKER_MODEL_SERVER_WORKERS` sets
 * the worker count (the cores are shared out among them); `NIGHTSHIFT_INTRA_OP_THREADS` sets the threads per
 * worker. No more workers than `MaxConcurrentTransforms` when the job sets it: the job's bound on the work in
 * flight (the server splits each request across the workers it has). On a GPU one worker feeds the device.
 */
export function choosePoolSize(options: {
  readonly cpus: number;
  readonly provider: ExecutionProviderHint;
  readonly workers?: number;
  readonly intraOpThreads?: number;
  readonly maxConcurrentTransforms?: number;
}): PoolSize {
  const cpus = Math.max(1, options.cpus);
  let workers: number;
  if (options.workers !== undefined) workers = options.workers;
  else if (options.provider === 'cuda') workers = 1;
  else workers = Math.max(1, Math.floor(cpus / (options.intraOpThreads ?? 1)));
  if (options.maxConcurrentTransforms !== undefined) workers = Math.min(workers, options.maxConcurrentTransforms);
  workers = Math.max(1, workers);
  const intraOpThreads = options.intraOpThreads ?? Math.max(1, Math.floor(cpus / workers));
  return { workers, intraOpThreads };
}

/** The provider the operator asked for, as far as sizing goes (`auto` sizes for the CPU). */
export type ExecutionProviderHint = 'auto' | 'cuda' | 'cpu';

interface PoolWorker {
  readonly thread: Worker;
  job: Job | undefined;
}

interface Job {
  readonly id: number;
  readonly images: readonly DecodedImage[];
  readonly resolve: (predictions: Prediction[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The model handler as a pool of worker threads (`inference-worker.ts`), each holding its own inference sessions.
 * A batch goes to an idle worker, or waits in order until one is free; the server's event loop only moves decoded
 * pixels in and predictions out, so `/ping` answers while every worker infers.
 */
export class InferencePool implements ModelHandler {
  readonly model: ModelIdentity;
  readonly provider: ExecutionProvider;
  readonly size: PoolSize;
  private readonly workers: PoolWorker[];
  private readonly waiting: Job[] = [];
  private readonly log: Log;
  private nextId = 0;
  private disposing = false;

  private constructor(
    model: ModelIdentity,
    provider: ExecutionProvider,
    size: PoolSize,
    workers: PoolWorker[],
    log: Log,
  ) {
    this.model = model;
    this.provider = provider;
    this.size = size;
    this.workers = workers;
    this.log = log;
    for (const worker of workers) this.listen(worker);
  }

  /** Starts `size.workers` threads and resolves once every one has loaded the model; rejects if any cannot. */
  static async start(
    settings: Omit<WorkerSettings, 'intraOpThreads'>,
    size: PoolSize,
    log: Log,
  ): Promise<InferencePool> {
    const threads = Array.from({ length: size.workers }, () =>
      startWorker(new URL('./inference-worker.ts', import.meta.url), {
        workerData: { ...settings, intraOpThreads: size.intraOpThreads } satisfies WorkerSettings,
      }),
    );
    try {
      const loaded = await Promise.all(threads.map((thread) => firstReply(thread)));
      const first = loaded[0] as Extract<WorkerReply, { type: 'ready' }>;
      return new InferencePool(
        first.model,
        first.provider,
        size,
        threads.map((thread) => ({ thread, job: undefined })),
        log,
      );
    } catch (error) {
      await Promise.all(threads.map((thread) => thread.terminate()));
      throw error;
    }
  }

  /** The workers still running: a request is split into this many batches, one per worker. */
  get parallelism(): number {
    return Math.max(1, this.workers.length);
  }

  /** Batches running now (one per busy worker). */
  get busy(): number {
    return this.workers.filter((worker) => worker.job !== undefined).length;
  }

  predictBatch(images: readonly DecodedImage[]): Promise<Prediction[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, images, resolve, reject });
      this.dispatch();
    });
  }

  async dispose(): Promise<void> {
    this.disposing = true;
    const stopped = this.workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          worker.thread.once('exit', () => resolve());
          worker.thread.postMessage({ type: 'dispose' } satisfies WorkerRequest);
        }),
    );
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([Promise.all(stopped), timeout]);
    await Promise.all(this.workers.map((worker) => worker.thread.terminate()));
  }

  private dispatch(): void {
    for (const worker of this.workers) {
      if (worker.job !== undefined) continue;
      const job = this.waiting.shift();
      if (job === undefined) return;
      worker.job = job;
      worker.thread.postMessage({ type: 'predict', id: job.id, images: job.images } satisfies WorkerRequest);
    }
  }

  private listen(worker: PoolWorker): void {
    worker.thread.on('message', (reply: WorkerReply) => {
      const job = worker.job;
      if (job === undefined || !('id' in reply) || reply.id !== job.id) return;
      worker.job = undefined;
      if (reply.type === 'predictions') job.resolve(reply.predictions);
      else job.reject(new Error(reply.message));
      this.dispatch();
    });
    // A worker that dies (out of memory in the native runtime, say) fails its batch; the server then predicts
    // that batch's images one by one, and each gets an error line if no worker is left to take it.
    worker.thread.once('exit', (code) => {
      const index = this.workers.indexOf(worker);
      if (index >= 0) this.workers.splice(index, 1);
      worker.job?.reject(new Error(`the inference worker stopped (exit code ${code})`));
      worker.job = undefined;
      if (this.workers.length === 0) {
        for (const job of this.waiting.splice(0)) job.reject(new Error('no inference worker is running'));
      }
      if (!this.disposing) this.log.warn('inference worker stopped', { code, workersLeft: this.workers.length });
    });
  }
}

/**
 * Starts a worker on a TypeScript file. Node runs it as is where it strips types itself (the container's Node);
 * under tsx (local runs and tests on Node 20) a worker does not inherit the `--import tsx` loader, so the worker
 * registers tsx before importing the file.
 */
function startWorker(url: URL, options: WorkerOptions): Worker {
  if (!process.execArgv.some((argument) => /(^|[/\\])tsx($|[/\\@])/.test(argument))) return new Worker(url, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

function firstReply(thread: Worker): Promise<Extract<WorkerReply, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    thread.once('error', onError);
    thread.once('message', (reply: WorkerReply) => {
      thread.off('error', onError);
      if (reply.type === 'ready') resolve(reply);
      else reject(new Error(reply.type === 'load-failed' ? reply.message : `unexpected ${reply.type} from a worker`));
    });
  });
}
