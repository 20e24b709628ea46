import pLimit, { type LimitFunction } from 'p-limit';
import { DatasetAccessError, describeError, NightshiftError, RetryableError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, ObjectStore, OpenedObject, PredictionStore } from '../../shared/ports.ts';
import {
  type DatasetItem,
  type RejectionReason,
  rejectionRecord,
  type TransformIndexEntry,
  type TransformRecord,
} from '../../shared/records.ts';
import { formatS3Uri, type S3Location } from '../../shared/s3-location.ts';
import type { PreprocessBatch, PreprocessResult } from '../../shared/stage-events.ts';
import { THUMBNAIL_PACK_CONTENT_TYPE, thumbnailPackBody, thumbnailPackKey } from '../../shared/thumbnails.ts';
import { ByteBudget } from './byte-budget.ts';
import { prepareModelInput } from './model-input.ts';
import { makeThumbnail } from './thumbnail.ts';

/** The ports the preprocess stage works through. */
export interface PreprocessDeps {
  readonly objects: ObjectStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
  /**
   * Images decoded at once (the CPU part of an item: decode, resize, encode, thumbnail), apart from the downloads
   * (`downloadConcurrency`), which wait on the network. One per vCPU: with `sharp.concurrency(1)` each image keeps
   * one core busy, so more only queue in libuv's pool while holding their pixels. The handler passes the cores it
   * has (`configureImageProcessing`).
   * @default 1
   */
  readonly imageConcurrency?: number;
  /**
   * Downloaded bytes a batch holds at once (objects downloading, waiting for a core or being decoded); a download
   * waits until its object's size fits. It bounds what `downloadConcurrency` downloads of large objects hold: 32
   * objects of `maxObjectBytes` (50 MiB) would be 1.6 GiB, more than the function's 1,024 MB.
   * @default {@link DOWNLOAD_BUDGET_BYTES}
   */
  readonly downloadBudgetBytes?: number;
}

/**
 * The default {@link PreprocessDeps.downloadBudgetBytes}: 256 MiB. Measured with 32 downloads in flight, a batch of
 * 200 photos of 0.46 megapixels peaks at 268 MB of RSS and one of 12-megapixel photos (3 MB each) at 484 MB; the
 * budget keeps 32 such photos (96 MB) in flight and caps the bytes that larger objects could add.
 */
export const DOWNLOAD_BUDGET_BYTES = 256 * 1024 * 1024;

type ItemOutcome =
  | { readonly accepted: true; readonly item: DatasetItem; readonly line: string; readonly thumbnail?: Uint8Array }
  | {
      readonly accepted: false;
      readonly item: DatasetItem;
      readonly reason: RejectionReason;
      readonly message: string;
    };

const JSON_LINES = 'application/jsonlines';

/**
 * File name shared by a batch's transform input part and its index: the first item's index, zero-padded so parts
 * list in item order. A retried batch gets the same name and overwrites its own part.
 */
export function partFileName(firstItemIndex: number): string {
  return `part-${String(firstItemIndex).padStart(9, '0')}`;
}

/**
 * Preprocesses one Distributed Map batch: every item ends as exactly one line of the batch's transform input part
 * or one rejection row. Bad objects never fail the batch; a failing dependency (S3, DynamoDB) does, with a
 * {@link RetryableError} for Step Functions to retry, and the retry overwrites what the failed attempt wrote.
 */
export async function runPreprocess(batch: PreprocessBatch, deps: PreprocessDeps): Promise<PreprocessResult> {
  const { Items: items, BatchInput: input } = batch;
  const { runId, pipelineBucket, settings } = input;

  const limit = pLimit(settings.downloadConcurrency);
  const decode = pLimit(deps.imageConcurrency ?? 1);
  const budget = new ByteBudget(deps.downloadBudgetBytes ?? DOWNLOAD_BUDGET_BYTES);
  let outcomes: ItemOutcome[];
  try {
    outcomes = await Promise.all(
      items.map((item) => limit(() => preprocessItem(item, settings, deps.objects, decode, budget))),
    );
  } catch (error) {
    // The batch is failing: start no more downloads.
    limit.clearQueue();
    decode.clearQueue();
    throw error;
  }

  const accepted = outcomes.filter((outcome) => outcome.accepted);
  const rejected = outcomes.filter((outcome) => !outcome.accepted);
  const rejectedByReason: Record<string, number> = {};
  for (const outcome of rejected) {
    rejectedByReason[outcome.reason] = (rejectedByReason[outcome.reason] ?? 0) + 1;
    deps.log.warn('rejected an input object', {
      key: outcome.item.key,
      bucket: outcome.item.bucket,
      reason: outcome.reason,
      message: outcome.message,
    });
  }

  if (rejected.length > 0) {
    const updatedAt = deps.clock.now().toISOString();
    const rows = rejected.map(({ item, reason, message }) =>
      rejectionRecord(runId, { key: item.key, bucket: item.bucket, reason, message, stage: 'preprocess' }, updatedAt),
    );
    await withStageError(`writing ${rows.length} rejection rows of run "${runId}"`, () => deps.predictions.put(rows));
  }

  let part: string | null = null;
  if (accepted.length > 0) {
    const first = items[0]?.index ?? 0;
    const name = partFileName(first);
    await writeThumbnailPack(runId, pipelineBucket, name, accepted, deps);
    const index: TransformIndexEntry[] = accepted.map(({ item }) => ({
      id: item.index,
      key: item.key,
      bucket: item.bucket,
    }));
    // The index goes first and the part last: a part only exists once everything that joins its output back to
    // the input objects does, even when a tolerated batch failure means this batch is never retried.
    const indexLocation = { bucket: pipelineBucket, key: `${runLayout.transformIndex(runId)}${name}.json` };
    await withStageError(`writing ${formatS3Uri(indexLocation)}`, () =>
      deps.objects.put(indexLocation, JSON.stringify(index), 'application/json'),
    );
    const partLocation = { bucket: pipelineBucket, key: `${runLayout.transformInput(runId)}${name}.jsonl` };
    const body = `${accepted.map((outcome) => outcome.line).join('\n')}\n`;
    await withStageError(`writing ${formatS3Uri(partLocation)}`, () =>
      deps.objects.put(partLocation, body, JSON_LINES),
    );
    part = partLocation.key;
  }

  const result: PreprocessResult = { part, records: accepted.length, rejected: rejected.length, rejectedByReason };
  deps.log.info('preprocessed a batch', { items: items.length, ...result });
  return result;
}

/** Downloads one object and turns it into a transform record line, or says why it cannot be one. */
async function preprocessItem(
  item: DatasetItem,
  settings: PreprocessBatch['BatchInput']['settings'],
  objects: ObjectStore,
  decode: LimitFunction,
  budget: ByteBudget,
): Promise<ItemOutcome> {
  const location: S3Location = { bucket: item.bucket, key: item.key };
  const uri = formatS3Uri(location);
  const reject = (reason: RejectionReason, message: string): ItemOutcome => ({
    accepted: false,
    item,
    reason,
    message,
  });
  const tooLarge = (bytes: number) =>
    reject(
      'TOO_LARGE',
      `${uri} is ${formatBytes(bytes)}, more than the ${formatBytes(settings.maxObjectBytes)} allowed ` +
        '(preprocess.maxObjectBytes); shrink the file or raise the limit',
    );
  const notFound = () =>
    reject('NOT_FOUND', `${uri} does not exist (it was deleted or renamed after the dataset was listed)`);

  // One object the pipeline may not read (another account's key, a deny on that key) is that object's problem,
  // not the batch's.
  const denied = (error: unknown): ItemOutcome => {
    if (!(error instanceof DatasetAccessError)) throw error;
    return reject('ACCESS_DENIED', `${uri} cannot be read by the pipeline (${error.message})`);
  };
  if (item.size !== undefined && item.size > settings.maxObjectBytes) return tooLarge(item.size);

  // One GET per object, no HEAD first: the response headers give the size before any of the body is read, so an
  // oversized object is refused unread either way. A listed size is held before the GET, so that connection never
  // waits on the budget with its body unread; a manifest's item has no size until the headers arrive, and waits
  // there (its body paused) until the size fits. The budget is held until the image is done: the bytes live that
  // long.
  let release = item.size === undefined ? undefined : await budget.hold(item.size);
  try {
    let opened: OpenedObject | undefined;
    try {
      opened = await withStageError(`reading ${uri}`, () => objects.open(location));
    } catch (error) {
      return denied(error);
    }
    if (opened === undefined) return notFound();
    const object = opened;
    let bytes: Uint8Array;
    try {
      // Checked again for a listed item: the object may have been replaced since it was listed.
      if (object.size > settings.maxObjectBytes) return tooLarge(object.size);
      if (object.size === 0) return reject('EMPTY_OBJECT', `${uri} is empty (0 bytes)`);
      release ??= await budget.hold(object.size);
      bytes = await withStageError(`reading ${uri}`, () => object.read());
    } finally {
      // A body left unread (refused, or a failed read) would keep its connection; after a read this does nothing.
      object.discard();
    }

    const image = bytes;
    const { prepared, thumbnail } = await decode(async () => {
      const made = await prepareModelInput(image, settings);
      if (!made.ok) return { prepared: made, thumbnail: undefined };
      return {
        prepared: made,
        thumbnail: await makeThumbnail(image, settings.maxInputPixels, made).catch(() => undefined),
      };
    });
    if (!prepared.ok) return reject(prepared.reason, `${uri} ${prepared.problem}`);
    const record: TransformRecord = {
      id: item.index,
      bucket: item.bucket,
      key: item.key,
      ...(item.expected === undefined ? {} : { expected: item.expected }),
      geometry: prepared.geometry,
      input: prepared.input,
    };
    return { accepted: true, item, line: JSON.stringify(record), ...(thumbnail ? { thumbnail } : {}) };
  } finally {
    release?.();
  }
}

/**
 * Writes the batch's thumbnails as one pack before the part exists, so the report finds one for every item the
 * model saw. A thumbnail is a convenience: one that could not be made is left out (the report shows the row
 * without it), and a batch with none writes no pack.
 */
async function writeThumbnailPack(
  runId: string,
  pipelineBucket: string,
  part: string,
  accepted: readonly ItemOutcome[],
  deps: PreprocessDeps,
): Promise<void> {
  const thumbnails = accepted.flatMap((outcome) =>
    outcome.accepted && outcome.thumbnail !== undefined
      ? [{ bucket: outcome.item.bucket, key: outcome.item.key, webp: outcome.thumbnail }]
      : [],
  );
  if (thumbnails.length === 0) return;
  const location = { bucket: pipelineBucket, key: thumbnailPackKey(runId, part) };
  await withStageError(`writing ${formatS3Uri(location)}`, () =>
    deps.objects.put(location, thumbnailPackBody(thumbnails), THUMBNAIL_PACK_CONTENT_TYPE),
  );
}

/**
 * Runs a call to a port, making sure what it throws is one of ours: the adapters already map SDK errors, and
 * anything else a port throws is treated as a dependency failure that a retry of the batch may not see.
 */
async function withStageError<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof NightshiftError) throw error;
    throw new RetryableError(`${action} failed (${describeError(error).message})`, { cause: error });
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
