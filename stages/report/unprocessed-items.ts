import { z } from 'zod';
import { PipelineStateError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, ObjectStore, PredictionStore } from '../../shared/ports.ts';
import { type DatasetItem, DatasetItemSchema, type RejectionRecord } from '../../shared/records.ts';
import { formatS3Uri, type S3Location } from '../../shared/s3-location.ts';
import { BATCH_GET_LIMIT } from '../../shared/tables.ts';

export interface UnprocessedItemsDeps {
  readonly objects: ObjectStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
}

const ItemPartKeysSchema = z.array(z.string().min(1));

/** Why an item that the plan accepted has no prediction and no rejection, and what to do about it. */
export const NOT_PROCESSED_MESSAGE =
  'no result was recorded for this object: the preprocess or aggregate batch that held it failed, and the run ' +
  'tolerated the failure (ToleratedFailurePercentage). See the failed items of the Map Run in the Step Functions ' +
  'console, fix the cause and start the run again with the same input and run id (`nightshift start ... --run-id`); ' +
  'rows are keyed by object, so the re-run replaces this row with the real outcome.';

/**
 * Gives every item of the plan that has no row a `NOT_PROCESSED` rejection, so that after the report every input
 * object has exactly one row. Streams the plan's item parts and checks keys in chunks, so memory does not grow with
 * the run. Returns how many rows it wrote.
 */
export async function recordUnprocessedItems(
  deps: UnprocessedItemsDeps,
  run: { readonly runId: string; readonly pipelineBucket: string },
): Promise<number> {
  const partKeys = await readItemPartKeys(deps.objects, {
    bucket: run.pipelineBucket,
    key: runLayout.itemsManifest(run.runId),
  });
  let written = 0;
  let chunk: DatasetItem[] = [];
  const flush = async (): Promise<void> => {
    written += await recordMissing(deps, run.runId, chunk);
    chunk = [];
  };
  for (const key of partKeys) {
    const part: S3Location = { bucket: run.pipelineBucket, key };
    let lineNumber = 0;
    for await (const line of deps.objects.lines(part)) {
      lineNumber += 1;
      if (line.trim() === '') continue;
      chunk.push(parseItem(line, `line ${lineNumber} of item part ${formatS3Uri(part)}`));
      if (chunk.length >= BATCH_GET_LIMIT) await flush();
    }
  }
  if (chunk.length > 0) await flush();
  return written;
}

async function readItemPartKeys(objects: ObjectStore, manifest: S3Location): Promise<string[]> {
  const body = await objects.get(manifest);
  if (body === undefined) {
    throw new PipelineStateError(
      `the item parts manifest ${formatS3Uri(manifest)} does not exist; the plan stage writes it`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new PipelineStateError(`the item parts manifest ${formatS3Uri(manifest)} is not JSON`, { cause: error });
  }
  const parsed = ItemPartKeysSchema.safeParse(value);
  if (!parsed.success) {
    throw new PipelineStateError(`the item parts manifest ${formatS3Uri(manifest)} is not a JSON array of part keys`);
  }
  return parsed.data;
}

function parseItem(line: string, where: string): DatasetItem {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new PipelineStateError(`${where} is not JSON`, { cause: error });
  }
  const parsed = DatasetItemSchema.safeParse(value);
  if (!parsed.success) throw new PipelineStateError(`${where} is not a dataset item: ${parsed.error.message}`);
  return parsed.data;
}

async function recordMissing(
  deps: UnprocessedItemsDeps,
  runId: string,
  items: readonly DatasetItem[],
): Promise<number> {
  const present = await deps.predictions.existing(
    runId,
    items.map((item) => item.key),
  );
  const updatedAt = deps.clock.now().toISOString();
  const missing = new Map<string, RejectionRecord>();
  for (const item of items) {
    if (present.has(item.key) || missing.has(item.key)) continue;
    missing.set(item.key, {
      runId,
      key: item.key,
      bucket: item.bucket,
      outcome: 'REJECTED',
      reason: 'NOT_PROCESSED',
      message: NOT_PROCESSED_MESSAGE,
      stage: 'report',
      updatedAt,
    });
  }
  if (missing.size === 0) return 0;
  await deps.predictions.put([...missing.values()]);
  deps.log.warn('recorded items without a result as NOT_PROCESSED', {
    count: missing.size,
    firstKey: missing.keys().next().value,
  });
  return missing.size;
}
