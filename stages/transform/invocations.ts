import { describeError, InvalidInputError } from '../../shared/errors.ts';
import type { Log } from '../../shared/logging.ts';
import type { ModelOutput } from '../../shared/records.ts';
import { type DecodedRecord, decodeImage, decodeRecord } from './image-records.ts';
import type { DecodedImage, ModelHandler, Prediction } from './model-handler.ts';
import { RECORD_ERROR_CODES, type RecordError } from './record-errors.ts';

/**
 * Splits a JSON Lines body into records, as Batch Transform sends them with `SplitType: Line`. Blank lines (a
 * trailing newline, a `\r\n` ending) are not records. A line that is not JSON fails the whole request: the
 * records cannot be matched to output lines any more, so the caller gets a 400 naming the first such line.
 */
export function parseJsonLines(body: string): unknown[] {
  const records: unknown[] = [];
  const lines = body.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch (error) {
      throw new InvalidInputError(
        `line ${index + 1} of the request body is not JSON (${describeError(error).message}); ` +
          'send one JSON object per line (JSON Lines)',
        { details: { line: index + 1 } },
      );
    }
  }
  if (records.length === 0) {
    throw new InvalidInputError('the request body has no records; send one JSON object per line (JSON Lines)');
  }
  return records;
}

export interface InvocationSummary {
  readonly lines: string[];
  readonly records: number;
  readonly errors: number;
  /** The batches the records were cut into ({@link batchSize}). */
  readonly batches: number;
}

/**
 * How a request's records are cut into batches: as many batches as the handler predicts at once (its
 * `parallelism`, the pool's workers), so one request keeps every worker busy, and none larger than
 * `imagesPerBatch`. A request of 8 records on a 2-worker pool is 2 batches of 4, one per worker.
 */
export function batchSize(records: number, parallelism: number, imagesPerBatch: number): number {
  return Math.max(1, Math.min(imagesPerBatch, Math.ceil(records / Math.max(1, parallelism))));
}

/**
 * Predicts every record and returns one JSON line per record, in order: the handler's prediction, or an error
 * line for a record that cannot be decoded or that the model fails on. Every line carries the model's name and
 * version. Records are cut into batches ({@link batchSize}); up to the handler's `parallelism` batches are
 * predicted at once and one more decodes meanwhile, so at most that many batches of pixels are held per request.
 */
export async function invoke(
  records: readonly unknown[],
  handler: ModelHandler,
  options: { readonly imagesPerBatch: number; readonly log: Log },
): Promise<InvocationSummary> {
  const size = batchSize(records.length, handler.parallelism, options.imagesPerBatch);
  const batches = Math.ceil(records.length / size);
  const outputs: ModelOutput[][] = new Array(batches);
  let next = 0;
  const lane = async () => {
    for (let batch = next++; batch < batches; batch = next++) {
      const slice = records.slice(batch * size, (batch + 1) * size);
      const decoded: DecodedRecord[] = await Promise.all(slice.map((record) => decodeRecord(record)));
      const images = decoded.flatMap((record) => (record.ok ? [record.image] : []));
      const predicted = await predictIsolated(handler, images, options.log);
      let position = 0;
      outputs[batch] = decoded.map((record) =>
        toOutput(handler, record.ok ? (predicted[position++] as Outcome) : record),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(batches, Math.max(1, handler.parallelism) + 1) }, lane));
  const ordered = outputs.flat();
  return {
    lines: ordered.map((output) => JSON.stringify(output)),
    records: records.length,
    errors: ordered.filter((output) => output.error !== undefined).length,
    batches,
  };
}

/**
 * Predicts one raw image body (`image/jpeg`, `image/png`, `application/x-image`), as a real-time endpoint or a
 * `curl` sends it: the output is the same object a JSON Lines request gets for the image as one record.
 */
export async function invokeImage(
  bytes: Buffer,
  handler: ModelHandler,
  options: { readonly log: Log },
): Promise<ModelOutput> {
  const decoded = await decodeImage(bytes);
  if (!decoded.ok) return toOutput(handler, decoded);
  const [outcome] = await predictIsolated(handler, [decoded.image], options.log);
  return toOutput(handler, outcome as Outcome);
}

/**
 * Predicts a batch; if the model fails on it, predicts image by image so that one image the model cannot handle
 * becomes one error line rather than a failed request (which Batch Transform would retry, then fail the job for).
 */
async function predictIsolated(handler: ModelHandler, images: readonly DecodedImage[], log: Log): Promise<Outcome[]> {
  if (images.length === 0) return [];
  try {
    const predictions = await handler.predictBatch(images);
    if (predictions.length !== images.length) {
      throw new Error(`the handler returned ${predictions.length} predictions for ${images.length} images`);
    }
    return predictions.map((prediction) => ({ ok: true, prediction }));
  } catch (error) {
    const message = describeError(error).message;
    if (images.length === 1) {
      log.warn('inference failed for a record', { error: message });
      const failure: RecordError = {
        code: RECORD_ERROR_CODES.inferenceFailed,
        message: `the model failed on this image: ${message}`,
      };
      return [{ ok: false, error: failure }];
    }
    log.warn('batch inference failed; predicting its images one by one', { images: images.length, error: message });
    const outcomes: Outcome[] = [];
    for (const image of images) outcomes.push(...(await predictIsolated(handler, [image], log)));
    return outcomes;
  }
}

type Outcome =
  | { readonly ok: true; readonly prediction: Prediction }
  | { readonly ok: false; readonly error: RecordError };

function toOutput(handler: ModelHandler, outcome: Outcome): ModelOutput {
  const model = { name: handler.model.name, version: handler.model.version };
  return outcome.ok ? { model, ...outcome.prediction } : { model, error: { ...outcome.error } };
}
