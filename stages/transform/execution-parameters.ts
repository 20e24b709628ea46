import type { ExecutionProvider } from './execution-provider.ts';

/**
 * The body of `GET /execution-parameters`, which SageMaker asks for before the first `/invocations` of a batch
 * transform job and uses for any of the three settings the job itself leaves unset. The key names and the
 * `MULTI_RECORD` spelling are the ones AWS documents for this response ("Custom Inference Code with Batch
 * Transform"), which differ from the CreateTransformJob API's `MultiRecord`.
 */
export interface ExecutionParameters {
  readonly MaxConcurrentTransforms: number;
  readonly BatchStrategy: 'MULTI_RECORD';
  /** 0 only when the job set 0: no limit, bodies may come chunked ({@link UNLIMITED_PAYLOAD_CAP_MB} applies). */
  readonly MaxPayloadInMB: number;
}

/**
 * The body size the server still refuses when the job sets MaxPayloadInMB to 0 (no limit): the server holds a
 * request in memory, and 100 MB is the largest limit SageMaker accepts otherwise.
 */
export const UNLIMITED_PAYLOAD_CAP_MB = 100;

export interface Hardware {
  /** Inference workers in the server's pool. */
  readonly workers: number;
  readonly provider: ExecutionProvider;
}

/** What the job set (`SAGEMAKER_MAX_*`); a value set there is what SageMaker uses, so it is echoed back. */
export interface JobLimits {
  readonly maxConcurrentTransforms?: number;
  readonly maxPayloadInMB?: number;
}

/**
 * Recommends settings for this machine:
 * - `MaxConcurrentTransforms`: one request per inference worker, plus one whose upload, JSON parsing and image
 *   decoding (on the event loop and libuv threads) overlap the running inferences; more would only wait, holding
 *   their decoded images in memory.
 * - `MaxPayloadInMB`: 6, SageMaker's default (about 40 preprocessed 960-pixel JPEGs per request), on the CPU,
 *   where a request of that size already takes seconds; 12 on a GPU, which finishes a request in well under a
 *   second, so per-request overheads weigh more and larger batches keep the recogniser's batches full.
 * - `BatchStrategy`: `MULTI_RECORD`: handlers predict batches, so more records per request is always better.
 *
 * The server enforces the same numbers: its payload limit and concurrency bound are these values.
 */
export function recommendExecutionParameters(hardware: Hardware, job: JobLimits = {}): ExecutionParameters {
  return {
    MaxConcurrentTransforms: job.maxConcurrentTransforms ?? hardware.workers + 1,
    BatchStrategy: 'MULTI_RECORD',
    MaxPayloadInMB: job.maxPayloadInMB ?? (hardware.provider === 'cuda' ? 12 : 6),
  };
}
