import pLimit from 'p-limit';
import type { Log } from '../../shared/logging.ts';
import { readManifest } from '../../shared/manifest.ts';
import type { Clock, ObjectStore, TransformJobControl } from '../../shared/ports.ts';
import { formatS3Uri, parseS3Uri, type S3Location } from '../../shared/s3-location.ts';
import { realSleeper, type Sleeper } from './engine/index.ts';
import {
  batchPayloads,
  joinOutputs,
  modelInputs,
  ObjectFailure,
  parseInputs,
  splitRecords,
} from './transform-records.ts';

/** The CreateTransformJob request fields the local batch transform honours (others are refused by name). */
export interface TransformJobRequest {
  readonly TransformJobName: string;
  readonly ModelName: string;
  readonly BatchStrategy?: 'MultiRecord' | 'SingleRecord';
  readonly MaxPayloadInMB?: number;
  readonly MaxConcurrentTransforms?: number;
  readonly ModelClientConfig?: {
    readonly InvocationsTimeoutInSeconds?: number;
    readonly InvocationsMaxRetries?: number;
  };
  readonly Environment?: Record<string, string>;
  readonly TransformInput: {
    readonly DataSource: {
      readonly S3DataSource: { readonly S3DataType: 'S3Prefix' | 'ManifestFile'; readonly S3Uri: string };
    };
    readonly ContentType?: string;
    readonly SplitType?: 'None' | 'Line';
    readonly CompressionType?: 'None';
  };
  readonly TransformOutput: {
    readonly S3OutputPath: string;
    readonly Accept?: string;
    readonly AssembleWith?: 'None' | 'Line';
    readonly KmsKeyId?: string;
  };
  readonly TransformResources: {
    readonly InstanceType: string;
    readonly InstanceCount: number;
    readonly VolumeKmsKeyId?: string;
  };
  readonly DataProcessing?: {
    readonly InputFilter?: string;
    readonly OutputFilter?: string;
    readonly JoinSource?: 'Input' | 'None';
  };
  readonly Tags?: ReadonlyArray<{ Key: string; Value: string }>;
}

export type TransformJobStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';

/** DescribeTransformJob's shape (the fields a local job can fill). */
export interface TransformJobDescription {
  readonly TransformJobName: string;
  readonly TransformJobArn: string;
  readonly TransformJobStatus: TransformJobStatus;
  readonly FailureReason?: string;
  readonly ModelName: string;
  readonly MaxConcurrentTransforms: number;
  readonly MaxPayloadInMB: number;
  readonly BatchStrategy: string;
  readonly ModelClientConfig: { InvocationsTimeoutInSeconds: number; InvocationsMaxRetries: number };
  readonly TransformInput: TransformJobRequest['TransformInput'];
  readonly TransformOutput: TransformJobRequest['TransformOutput'];
  readonly TransformResources: TransformJobRequest['TransformResources'];
  readonly DataProcessing?: TransformJobRequest['DataProcessing'];
  readonly CreationTime: string;
  readonly TransformStartTime?: string;
  readonly TransformEndTime?: string;
}

/** A model server instance: the HTTP contract of SageMaker inference containers on some endpoint. */
export interface ModelServerInstance {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface LocalBatchTransformOptions {
  readonly objects: ObjectStore;
  /** Starts instance `index` of a job (a model-server process). */
  readonly launchInstance: (index: number, request: TransformJobRequest) => Promise<ModelServerInstance>;
  readonly clock: Clock;
  readonly log: Log;
  /** Waits between invocation retries. @default - Node timers */
  readonly sleeper?: Sleeper;
  readonly region?: string;
  readonly account?: string;
  /** Progress per object (for the CLI's display). */
  readonly onProgress?: (event: {
    job: string;
    objectsDone: number;
    objectsTotal: number;
    recordsDone: number;
  }) => void;
}

/** A job-level error with the AWS error name SageMaker would give (`ResourceInUse`, `ValidationException`). */
export class SageMakerLocalError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The wait before invocation retry `attempt` (1-based): 250 ms doubling per retry, at most 5 s. SageMaker documents
 * the number of retries (ModelClientConfig InvocationsMaxRetries) but not its back-off; ours keeps a model server
 * that answers 5xx under load from being hit again at once.
 */
export function invocationRetryDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 5_000);
}

/**
 * SageMaker Batch Transform on one machine: one `.out` object per input object with one line per input line in
 * order (SplitType Line, AssembleWith Line), MultiRecord batches capped by MaxPayloadInMB (a single record over the
 * cap fails its object with SageMaker's message), MaxConcurrentTransforms requests in flight per instance across its
 * objects, the container's /execution-parameters when a setting is left to it, DataProcessing (InputFilter,
 * JoinSource, OutputFilter), ModelClientConfig timeout and retries (with back-off, through an injected sleeper),
 * InstanceCount model-server processes with objects spread across them, and a DescribeTransformJob-shaped status.
 */
export class LocalBatchTransform implements TransformJobControl {
  private readonly jobs = new Map<
    string,
    { description: TransformJobDescription; done: Promise<TransformJobDescription> }
  >();

  private readonly sleeper: Sleeper;

  constructor(private readonly options: LocalBatchTransformOptions) {
    this.sleeper = options.sleeper ?? realSleeper;
  }

  /** CreateTransformJob: validates, starts the job, and returns at once. */
  create(request: TransformJobRequest): { TransformJobArn: string } {
    const name = request.TransformJobName;
    if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
      throw new SageMakerLocalError(
        'ValidationException',
        `1 validation error detected: Value '${name}' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`,
      );
    }
    const existing = this.jobs.get(name);
    if (existing) {
      throw new SageMakerLocalError(
        'ResourceInUse',
        `Job name must be unique within an AWS account and region, and a job with this name already exists (${existing.description.TransformJobArn})`,
      );
    }
    this.validate(request);
    const arn = `arn:aws:sagemaker:${this.options.region ?? 'us-east-1'}:${this.options.account ?? '000000000000'}:transform-job/${name.toLowerCase()}`;
    const description: TransformJobDescription = {
      TransformJobName: name,
      TransformJobArn: arn,
      TransformJobStatus: 'InProgress',
      ModelName: request.ModelName,
      MaxConcurrentTransforms: request.MaxConcurrentTransforms ?? 0,
      MaxPayloadInMB: request.MaxPayloadInMB ?? 6,
      BatchStrategy: request.BatchStrategy ?? 'MultiRecord',
      ModelClientConfig: {
        InvocationsTimeoutInSeconds: request.ModelClientConfig?.InvocationsTimeoutInSeconds ?? 600,
        InvocationsMaxRetries: request.ModelClientConfig?.InvocationsMaxRetries ?? 3,
      },
      TransformInput: request.TransformInput,
      TransformOutput: request.TransformOutput,
      TransformResources: request.TransformResources,
      ...(request.DataProcessing ? { DataProcessing: request.DataProcessing } : {}),
      CreationTime: this.options.clock.now().toISOString(),
    };
    const entry = { description, done: Promise.resolve(description) };
    this.jobs.set(name, entry);
    entry.done = this.execute(request, entry);
    return { TransformJobArn: arn };
  }

  /** DescribeTransformJob. */
  describe(name: string): TransformJobDescription {
    const job = this.jobs.get(name);
    if (!job) throw new SageMakerLocalError('ValidationException', `Could not find requested job with name ${name}`);
    return job.description;
  }

  /**
   * StopTransformJob: the job finishes the objects in flight and ends Stopped. Like SageMaker, refuses a job that
   * does not exist or is no longer in progress.
   */
  stop(name: string): void {
    const job = this.jobs.get(name);
    if (!job) throw new SageMakerLocalError('ValidationException', `Could not find requested job with name ${name}`);
    if (job.description.TransformJobStatus !== 'InProgress') {
      throw new SageMakerLocalError(
        'ValidationException',
        `The request was rejected because the transform job is in status ${job.description.TransformJobStatus}.`,
      );
    }
    this.set(job, { TransformJobStatus: 'Stopping' });
  }

  /** The {@link TransformJobControl} port, as finalize-failure uses it after an abort or time-out. */
  async stopIfRunning(name: string): Promise<'stopped' | 'not-running'> {
    if (this.jobs.get(name)?.description.TransformJobStatus !== 'InProgress') return 'not-running';
    this.stop(name);
    return 'stopped';
  }

  /** Resolves with the final description (Completed, Failed or Stopped). */
  wait(name: string): Promise<TransformJobDescription> {
    const job = this.jobs.get(name);
    if (!job)
      return Promise.reject(
        new SageMakerLocalError('ValidationException', `Could not find requested job with name ${name}`),
      );
    return job.done;
  }

  private validate(request: TransformJobRequest): void {
    const refuse = (field: string, why: string) => {
      throw new SageMakerLocalError(
        'ValidationException',
        `${field}: ${why} (the local batch transform supports what SageMaker does for JSON Lines input)`,
      );
    };
    const input = request.TransformInput;
    if (!['S3Prefix', 'ManifestFile'].includes(input.DataSource.S3DataSource.S3DataType))
      refuse(
        'TransformInput.DataSource.S3DataSource.S3DataType',
        `unsupported ${input.DataSource.S3DataSource.S3DataType}`,
      );
    if (input.SplitType && !['None', 'Line'].includes(input.SplitType))
      refuse('TransformInput.SplitType', `unsupported ${input.SplitType}`);
    if (input.CompressionType && input.CompressionType !== 'None')
      refuse('TransformInput.CompressionType', 'only None');
    if (request.TransformOutput.AssembleWith && !['None', 'Line'].includes(request.TransformOutput.AssembleWith))
      refuse('TransformOutput.AssembleWith', 'only None or Line');
    const payload = request.MaxPayloadInMB;
    if (payload !== undefined && (payload < 0 || payload > 100)) refuse('MaxPayloadInMB', 'must be 0-100');
    const count = request.TransformResources.InstanceCount;
    if (!Number.isInteger(count) || count < 1) refuse('TransformResources.InstanceCount', 'must be a positive integer');
    const join = request.DataProcessing?.JoinSource;
    if (join && join !== 'None' && join !== 'Input') refuse('DataProcessing.JoinSource', `unsupported ${join}`);
  }

  private set(
    entry: { description: TransformJobDescription },
    changes: Partial<TransformJobDescription>,
  ): TransformJobDescription {
    entry.description = { ...entry.description, ...changes };
    return entry.description;
  }

  private async execute(
    request: TransformJobRequest,
    entry: { description: TransformJobDescription },
  ): Promise<TransformJobDescription> {
    const { log, clock } = this.options;
    const name = request.TransformJobName;
    const instances: ModelServerInstance[] = [];
    try {
      const inputs = await this.listInputs(request);
      this.set(entry, { TransformStartTime: clock.now().toISOString() });
      const count = request.TransformResources.InstanceCount;
      for (let i = 0; i < count; i++) instances.push(await this.options.launchInstance(i, request));
      const failures: string[] = [];
      let objectsDone = 0;
      let recordsDone = 0;
      // SageMaker spreads input objects across instances; each instance runs its own concurrent requests.
      await Promise.all(
        instances.map(async (instance, index) => {
          const settings = await this.effectiveSettings(request, instance);
          if (index === 0) {
            log.info('transform job settings', { job: name, ...settings, instances: count });
            this.set(entry, {
              MaxConcurrentTransforms: settings.maxConcurrent,
              MaxPayloadInMB: settings.maxPayloadInMB,
              BatchStrategy: settings.batchStrategy,
            });
          }
          const mine = inputs.objects.filter((_, objectIndex) => objectIndex % count === index);
          // MaxConcurrentTransforms bounds the requests in flight to an instance ("the maximum number of parallel
          // requests that can be sent to each instance", CreateTransformJob), whichever objects they come from: an
          // object of one request must not leave the others idle while it is read, answered and written. One
          // object more than that is open, so the next one's download overlaps the requests; each open object is
          // held in memory, so no more.
          const requests = pLimit(settings.maxConcurrent);
          const open = pLimit(settings.maxConcurrent + 1);
          await Promise.all(
            mine.map((object) =>
              open(async () => {
                if (entry.description.TransformJobStatus === 'Stopping') return;
                try {
                  // Awaited first: `recordsDone += await ...` reads the total before the await and loses what
                  // the objects in flight add meanwhile.
                  const records = await this.transformObject(
                    request,
                    settings,
                    instance,
                    object,
                    inputs.base,
                    requests,
                  );
                  recordsDone += records;
                } catch (error) {
                  const message = `${object.bucket}/${object.key}: ${(error as Error).message}`;
                  failures.push(message);
                  log.error('[sagemaker logs]', { job: name, message });
                }
                objectsDone += 1;
                this.options.onProgress?.({
                  job: name,
                  objectsDone,
                  objectsTotal: inputs.objects.length,
                  recordsDone,
                });
              }),
            ),
          );
        }),
      );
      if (entry.description.TransformJobStatus === 'Stopping') {
        return this.set(entry, { TransformJobStatus: 'Stopped', TransformEndTime: clock.now().toISOString() });
      }
      if (failures.length > 0) {
        return this.set(entry, {
          TransformJobStatus: 'Failed',
          FailureReason:
            `ClientError: See job logs for more information. ${failures.length} of ${inputs.objects.length} objects failed; first: ${failures[0]}`.slice(
              0,
              1024,
            ),
          TransformEndTime: clock.now().toISOString(),
        });
      }
      return this.set(entry, { TransformJobStatus: 'Completed', TransformEndTime: clock.now().toISOString() });
    } catch (error) {
      return this.set(entry, {
        TransformJobStatus: 'Failed',
        FailureReason:
          `${(error as Error).name === 'ObjectFailure' ? 'ClientError' : 'InternalServerError'}: ${(error as Error).message}`.slice(
            0,
            1024,
          ),
        TransformEndTime: clock.now().toISOString(),
      });
    } finally {
      await Promise.all(instances.map((instance) => instance.stop().catch(() => undefined)));
    }
  }

  private async listInputs(request: TransformJobRequest): Promise<{ base: S3Location; objects: S3Location[] }> {
    const source = request.TransformInput.DataSource.S3DataSource;
    const location = parseS3Uri(source.S3Uri, 'TransformInput S3Uri');
    if (source.S3DataType === 'S3Prefix') {
      const objects: S3Location[] = [];
      for await (const object of this.options.objects.list(location)) {
        if (!object.key.endsWith('/')) objects.push({ bucket: location.bucket, key: object.key });
      }
      if (objects.length === 0)
        throw new ObjectFailure(
          `No S3 objects found under S3 URL "${source.S3Uri}" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role has permission to read them.`,
        );
      const base = {
        bucket: location.bucket,
        key:
          location.key.endsWith('/') || location.key === ''
            ? location.key
            : location.key.slice(0, location.key.lastIndexOf('/') + 1),
      };
      return { base, objects };
    }
    return this.listManifest(location);
  }

  /**
   * A ManifestFile's objects, read by the pipeline's validated manifest reader (`shared/manifest.ts`). Its entries
   * must lie in the manifest's bucket (the stack's model role reads the pipeline bucket only) and inside the prefix;
   * an entry the reader rejects fails the job with the reader's message, which names the manifest line. Outputs are
   * named relative to the manifest's prefix, which the reader has validated; it is read from the same bytes.
   */
  private async listManifest(location: S3Location): Promise<{ base: S3Location; objects: S3Location[] }> {
    const { objects: source } = this.options;
    let manifestBytes: Uint8Array | undefined;
    // The reader's store, keeping the manifest's bytes as it reads them (one GET, one validation).
    const store: ObjectStore = {
      list: (prefix) => source.list(prefix),
      open: (at) => source.open(at),
      get: async (at) => {
        manifestBytes = await source.get(at);
        return manifestBytes;
      },
      lines: (at) => source.lines(at),
      put: (at, body, contentType) => source.put(at, body, contentType),
      putStream: (at, chunks, contentType) => source.putStream(at, chunks, contentType),
      deletePrefix: (prefix) => source.deletePrefix(prefix),
    };
    const objects: S3Location[] = [];
    try {
      for await (const entry of readManifest(store, 'manifest-file', location, {
        allowed: [{ bucket: location.bucket, key: '' }],
      })) {
        if (entry.kind === 'rejected') throw new ObjectFailure(entry.rejection.message);
        objects.push({ bucket: entry.object.bucket, key: entry.object.key });
      }
    } catch (error) {
      if (error instanceof ObjectFailure) throw error;
      throw new ObjectFailure((error as Error).message);
    }
    const [head] = JSON.parse(new TextDecoder().decode(manifestBytes)) as [{ prefix: string }];
    return { base: parseS3Uri(head.prefix, 'manifest prefix'), objects };
  }

  /** Settings left to the container (0 or absent) come from its GET /execution-parameters, as SageMaker does. */
  private async effectiveSettings(request: TransformJobRequest, instance: ModelServerInstance) {
    let recommended: { MaxConcurrentTransforms?: number; BatchStrategy?: string; MaxPayloadInMB?: number } = {};
    if (!request.MaxConcurrentTransforms || !request.BatchStrategy || request.MaxPayloadInMB === undefined) {
      const response = await fetch(`${instance.endpoint}/execution-parameters`).catch(() => undefined);
      if (response?.ok) recommended = (await response.json()) as typeof recommended;
    }
    const batchStrategy =
      request.BatchStrategy ??
      (recommended.BatchStrategy === 'SINGLE_RECORD' || recommended.BatchStrategy === 'SingleRecord'
        ? 'SingleRecord'
        : 'MultiRecord');
    return {
      maxConcurrent: request.MaxConcurrentTransforms || recommended.MaxConcurrentTransforms || 1,
      maxPayloadInMB: request.MaxPayloadInMB ?? recommended.MaxPayloadInMB ?? 6,
      batchStrategy,
      timeoutMs: (request.ModelClientConfig?.InvocationsTimeoutInSeconds ?? 600) * 1000,
      retries: request.ModelClientConfig?.InvocationsMaxRetries ?? 3,
    };
  }

  private async transformObject(
    request: TransformJobRequest,
    settings: Awaited<ReturnType<LocalBatchTransform['effectiveSettings']>>,
    instance: ModelServerInstance,
    object: S3Location,
    base: S3Location,
    limit: ReturnType<typeof pLimit>,
  ): Promise<number> {
    const body = await this.options.objects.get(object);
    if (body === undefined) throw new ObjectFailure(`object ${formatS3Uri(object)} disappeared`);
    const text = new TextDecoder().decode(body);
    const split = request.TransformInput.SplitType === 'Line';
    const records = splitRecords(text, request.TransformInput.SplitType);
    const dataProcessing = request.DataProcessing ?? {};
    const parsedInputs = parseInputs(records, dataProcessing);
    const inputs = modelInputs(records, parsedInputs, dataProcessing);
    const batches = batchPayloads(inputs, settings);

    const outputs: string[] = new Array(records.length);
    await Promise.all(
      batches.map((batch) =>
        limit(async () => {
          const payload = batch.map((index) => inputs[index]).join('\n');
          const lines = await this.invoke(instance, request, settings, split ? `${payload}\n` : payload);
          if (lines.length !== batch.length) {
            throw new ObjectFailure(`the model returned ${lines.length} records for a request of ${batch.length}`);
          }
          batch.forEach((recordIndex, i) => {
            outputs[recordIndex] = lines[i] ?? '';
          });
        }),
      ),
    );

    const joined = joinOutputs(outputs, parsedInputs, dataProcessing);
    const relative = object.key.startsWith(base.key) ? object.key.slice(base.key.length) : object.key.split('/').pop();
    const output = parseS3Uri(request.TransformOutput.S3OutputPath, 'S3OutputPath');
    const outKey = `${output.key === '' || output.key.endsWith('/') ? output.key : `${output.key}/`}${relative}.out`;
    const assembled =
      request.TransformOutput.AssembleWith === 'Line' ? joined.map((line) => `${line}\n`).join('') : joined.join('');
    await this.options.objects.put(
      { bucket: output.bucket, key: outKey },
      assembled,
      request.TransformOutput.Accept ?? 'application/octet-stream',
    );
    return records.length;
  }

  /**
   * POST /invocations with ModelClientConfig's timeout and retries (5xx, timeouts and connection errors), waiting
   * {@link invocationRetryDelayMs} before each retry.
   */
  private async invoke(
    instance: ModelServerInstance,
    request: TransformJobRequest,
    settings: { timeoutMs: number; retries: number },
    body: string,
  ): Promise<string[]> {
    let lastError = '';
    for (let attempt = 0; attempt <= settings.retries; attempt++) {
      if (attempt > 0) await this.sleeper.sleep(invocationRetryDelayMs(attempt), { reason: 'retry' });
      try {
        const response = await fetch(`${instance.endpoint}/invocations`, {
          method: 'POST',
          headers: {
            'Content-Type': request.TransformInput.ContentType ?? 'application/octet-stream',
            Accept: request.TransformOutput.Accept ?? 'application/json',
          },
          body,
          signal: AbortSignal.timeout(settings.timeoutMs),
        });
        const text = await response.text();
        if (response.status >= 400 && response.status < 500)
          throw new ObjectFailure(`ClientError: ${response.status} ${text.slice(0, 300)}`);
        if (!response.ok) {
          lastError = `ServerError: ${response.status} ${text.slice(0, 300)}`;
          continue;
        }
        const lines = text.split('\n');
        if (lines.at(-1) === '') lines.pop();
        return lines;
      } catch (error) {
        if (error instanceof ObjectFailure) throw error;
        lastError =
          (error as Error).name === 'TimeoutError'
            ? `Model server did not respond to /invocations request within ${settings.timeoutMs / 1000} seconds`
            : `Unable to get response from algorithm: ${(error as Error).message}`;
      }
    }
    throw new ObjectFailure(lastError);
  }
}
