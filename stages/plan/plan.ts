import { DatasetAccessError, InvalidInputError, ObjectNotFoundError, RunConflictError } from '../../shared/errors.ts';
import { classifyDataset, type DatasetSource, parseExecutionInput } from '../../shared/execution-input.ts';
import { isSupportedImageKey, SUPPORTED_IMAGE_EXTENSIONS } from '../../shared/images.ts';
import { PIPELINE_OWNED_PREFIXES, runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import { manifestEntryKey, manifestPosition, readManifest } from '../../shared/manifest.ts';
import type { Clock, ObjectStore, PredictionStore, RunStore } from '../../shared/ports.ts';
import {
  type DatasetItem,
  type RejectedItem,
  type RejectionRecord,
  type RunRecord,
  rejectionRecord,
} from '../../shared/records.ts';
import { formatS3Uri, isInside, type S3Location } from '../../shared/s3-location.ts';
import { hashOf } from '../../shared/settings-hash.ts';
import type { PlanEvent, PlanResult } from '../../shared/stage-events.ts';
import { transformJobBaseName } from '../../shared/transform-job-name.ts';

export interface PlanDeps {
  readonly objects: ObjectStore;
  readonly runs: RunStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
  /** The bucket the pipeline writes its run data to. */
  readonly pipelineBucket: string;
  /** Where datasets, manifests and manifest lines may point. */
  readonly allowedDatasetLocations: readonly S3Location[];
  /** Items per JSONL part. @default 100_000 */
  readonly partSize?: number;
  /** Rejections buffered before they are written. @default 500 */
  readonly rejectionBatchSize?: number;
}

/** The supported extensions as a rejection message names them: `jpg, jpeg, png, ...`. */
const SUPPORTED_TYPES = SUPPORTED_IMAGE_EXTENSIONS.map((extension) => extension.slice(1)).join(', ');

/**
 * Plans a run: validates the input, creates (or re-joins) the run record, resolves the dataset into JSONL item
 * parts for the Distributed Map and rejections for what cannot be processed, and returns references and counts only.
 *
 * Memory stays flat in the dataset size: the listing is streamed and parts are written as they fill; only a
 * manifest's seen-keys map (for de-duplication) grows with the number of manifest lines. A repeated manifest line is
 * a DUPLICATE rejection, so every line ends as one item.
 */
export async function runPlan(event: PlanEvent, deps: PlanDeps): Promise<PlanResult> {
  checkInputIsObject(event.input);
  const input = parseExecutionInput(event.input);
  const runId = input.runId ?? event.execution.name;
  const source = classifyDataset(input.dataset);
  checkDatasetLocation(source, deps);

  const settings = { preprocess: input.preprocess, transform: input.transform };
  // The owning execution: `$$.Execution.Id` from the state machine; its name where a caller gives no id (tests).
  await createOrRejoinRun(runId, input.dataset, settings, event.execution.id ?? event.execution.name, deps);

  const writer = new PlanWriter(runId, deps);
  if (source.type === 'prefix') {
    for await (const object of deps.objects.list(source.location)) {
      if (object.key.endsWith('/') && object.size === 0) continue; // console-created "folder" markers
      await writer.add({ bucket: source.location.bucket, key: object.key, size: object.size });
    }
  } else {
    // Where each object was first named, so a repeat is rejected naming both positions.
    const seen = new Map<string, string>();
    let runBucket: string | undefined;
    const entries = readManifest(deps.objects, source.format, source.location, {
      allowed: deps.allowedDatasetLocations,
    });
    try {
      for await (const entry of entries) {
        if (entry.kind === 'rejected') {
          await writer.reject(entry.rejection);
          continue;
        }
        const { bucket, key, expected, line, entry: element } = entry.object;
        const position = manifestPosition(line, element);
        // Rows are keyed by object key within a run, so a run reads one bucket: the first object's.
        runBucket ??= bucket;
        if (bucket !== runBucket) {
          await writer.reject({
            key: manifestEntryKey(source.location, line, element),
            bucket: source.location.bucket,
            reason: 'OUTSIDE_DATASET',
            message:
              `${formatS3Uri(source.location)} ${position}: s3://${bucket}/${key} is in another bucket than the ` +
              `run's earlier objects (s3://${runBucket}/); a run reads one bucket, so split the manifest per bucket`,
            stage: 'plan',
            line,
          });
          continue;
        }
        const id = `${bucket}/${key}`;
        const first = seen.get(id);
        if (first !== undefined) {
          // The first mention owns the object's row; the repeat gets a row of its own so lines reconcile with items.
          writer.duplicates += 1;
          await writer.reject({
            key: manifestEntryKey(source.location, line, element),
            bucket: source.location.bucket,
            reason: 'DUPLICATE',
            message:
              `${formatS3Uri(source.location)} ${position} repeats ${first}: s3://${bucket}/${key} is processed ` +
              'once; remove the repeated line',
            stage: 'plan',
            line,
          });
          continue;
        }
        seen.set(id, position);
        await writer.add({ bucket, key, ...(expected === undefined ? {} : { expected }) }, line);
      }
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new DatasetAccessError(
          `manifest ${formatS3Uri(source.location)} does not exist; upload it or fix the path`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }
  const items = await writer.finish();
  const finishedAt = deps.clock.now().toISOString();
  await deps.runs.update(runId, {
    counts: { items: items.total, predicted: 0, rejected: items.rejected, rejectedByReason: writer.rejectedByReason },
  });
  deps.log.info('planned', { ...items, dataset: input.dataset, finishedAt });
  return {
    runId,
    pipelineBucket: deps.pipelineBucket,
    dataset: input.dataset,
    settings,
    items,
    transformInputPrefix: runLayout.transformInput(runId),
    transformOutputPrefix: runLayout.transformOutput(runId),
    transformJobName: transformJobBaseName(runId, event.execution.name),
    next: items.accepted > 0 ? 'preprocess' : 'empty',
  };
}

/** A console or CLI user may paste a bare URI or a list; say what the input must look like instead. */
function checkInputIsObject(input: unknown): void {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) return;
  const kind = Array.isArray(input) ? 'an array' : input === null ? 'null' : `a ${typeof input}`;
  throw new InvalidInputError(
    `the execution input must be a JSON object such as {"dataset": "s3://bucket/prefix/"}; got ${kind}`,
  );
}

function checkDatasetLocation(source: DatasetSource, deps: PlanDeps): void {
  const { location } = source;
  const allowed = deps.allowedDatasetLocations;
  if (!allowed.some((scope) => isInside(location, scope))) {
    throw new DatasetAccessError(
      `dataset ${formatS3Uri(location)} is outside the locations this pipeline may read ` +
        `(${allowed.map(formatS3Uri).join(', ')}); put the data there or deploy with the location allowed`,
    );
  }
  if (source.type === 'prefix' && location.bucket === deps.pipelineBucket) {
    const overlap = PIPELINE_OWNED_PREFIXES.find(
      (owned) => owned.startsWith(location.key) || location.key.startsWith(owned),
    );
    if (overlap !== undefined) {
      throw new InvalidInputError(
        `dataset ${formatS3Uri(location)} overlaps the pipeline's own ${overlap} folder; ` +
          `use a prefix such as s3://${location.bucket}/datasets/NAME/`,
      );
    }
  }
}

/**
 * Creates the run record, or takes an existing run over for this execution. A run id has one live execution at a
 * time: the record names its owner (`executionId`), and a start is refused with RunConflictError, before anything
 * is changed, when the run has other settings or is RUNNING under another execution. Creating (a conditional put)
 * and taking over (a conditional update on the owner) are each one write, so two executions started together
 * cannot both win.
 */
async function createOrRejoinRun(
  runId: string,
  dataset: string,
  settings: RunRecord['settings'],
  executionId: string,
  deps: PlanDeps,
): Promise<void> {
  const now = deps.clock.now().toISOString();
  const settingsHash = hashOf({ dataset, settings });
  const record: RunRecord = {
    runId,
    status: 'RUNNING',
    dataset,
    settings,
    settingsHash,
    executionId,
    createdAt: now,
    updatedAt: now,
  };
  const result = await deps.runs.create(record);
  if (result.created) {
    deps.log.info('run created', { dataset });
    return;
  }
  if (result.existing.settingsHash !== settingsHash) throw otherSettings(runId, result.existing);
  const claim = await deps.runs.claim(runId, { executionId, settingsHash });
  if (!claim.claimed) {
    throw claim.existing.settingsHash === settingsHash
      ? liveElsewhere(runId, claim.existing)
      : otherSettings(runId, claim.existing);
  }
  // Same input again: a retried plan or a deliberate re-run. The dataset may have changed since (objects added or
  // removed under the prefix), so the run's intermediate data and rows are cleared and computed afresh: stale parts
  // would go through the transform, and rows of vanished objects would break the report's reconciliation. This
  // execution owns the run now, so no other live execution is reading what is cleared.
  const bucket = deps.pipelineBucket;
  const [objects, rows] = await Promise.all([
    deps.objects.deletePrefix({ bucket, key: runLayout.root(runId) }),
    deps.predictions.deleteRun(runId),
  ]);
  deps.log.info('run re-joined: previous data cleared', { previousStatus: result.existing.status, objects, rows });
}

function otherSettings(runId: string, existing: RunRecord): RunConflictError {
  return new RunConflictError(
    `run id "${runId}" already exists with a different dataset or settings (created ${existing.createdAt}, ` +
      `dataset ${existing.dataset}); start with a new run id, or repeat the run with its original input`,
    { details: { runId } },
  );
}

function liveElsewhere(runId: string, existing: RunRecord): RunConflictError {
  return new RunConflictError(
    `run id "${runId}" is RUNNING in execution ${existing.executionId ?? '(unknown)'} (updated ${existing.updatedAt}); ` +
      `a run id has one live execution at a time: wait for it to end (nightshift watch ${runId}) or stop it, then ` +
      'start again',
    { details: { runId, executionId: existing.executionId } },
  );
}

/** Streams accepted items into JSONL parts and rejections into the prediction table. */
class PlanWriter {
  duplicates = 0;
  readonly rejectedByReason: Record<string, number> = {};
  private accepted = 0;
  private rejected = 0;
  private partLines: string[] = [];
  private readonly partKeys: string[] = [];
  private pendingRejections: RejectionRecord[] = [];
  private readonly partSize: number;
  private readonly rejectionBatchSize: number;

  constructor(
    private readonly runId: string,
    private readonly deps: PlanDeps,
  ) {
    this.partSize = deps.partSize ?? 100_000;
    this.rejectionBatchSize = deps.rejectionBatchSize ?? 500;
  }

  async add(object: Omit<DatasetItem, 'index'>, line?: number): Promise<void> {
    if (!isSupportedImageKey(object.key)) {
      await this.reject({
        key: object.key,
        bucket: object.bucket,
        reason: 'UNSUPPORTED_TYPE',
        message: `s3://${object.bucket}/${object.key} is not a supported image type (${SUPPORTED_TYPES})`,
        stage: 'plan',
        ...(line === undefined ? {} : { line }),
      });
      return;
    }
    const item: DatasetItem = { index: this.accepted, ...object };
    this.accepted += 1;
    this.partLines.push(JSON.stringify(item));
    if (this.partLines.length >= this.partSize) await this.flushPart();
  }

  async reject(rejection: RejectedItem): Promise<void> {
    this.rejected += 1;
    this.rejectedByReason[rejection.reason] = (this.rejectedByReason[rejection.reason] ?? 0) + 1;
    this.pendingRejections.push(rejectionRecord(this.runId, rejection, this.deps.clock.now().toISOString()));
    this.deps.log.warn('rejected', { key: rejection.key, reason: rejection.reason, detail: rejection.message });
    if (this.pendingRejections.length >= this.rejectionBatchSize) await this.flushRejections();
  }

  async finish(): Promise<PlanResult['items']> {
    if (this.partLines.length > 0) await this.flushPart();
    await this.flushRejections();
    const manifestKey = runLayout.itemsManifest(this.runId);
    await this.deps.objects.put(
      { bucket: this.deps.pipelineBucket, key: manifestKey },
      JSON.stringify(this.partKeys),
      'application/json',
    );
    return {
      total: this.accepted + this.rejected,
      accepted: this.accepted,
      rejected: this.rejected,
      duplicates: this.duplicates,
      partCount: this.partKeys.length,
      partsPrefix: runLayout.items(this.runId),
      manifestKey,
    };
  }

  private async flushPart(): Promise<void> {
    // Unpadded, so the state machine can name part n with States.Format (it has no padding function).
    const key = `${runLayout.items(this.runId)}part-${this.partKeys.length}.jsonl`;
    const body = `${this.partLines.join('\n')}\n`;
    this.partLines = [];
    await this.deps.objects.put({ bucket: this.deps.pipelineBucket, key }, body, 'application/jsonlines');
    this.partKeys.push(key);
  }

  private async flushRejections(): Promise<void> {
    if (this.pendingRejections.length === 0) return;
    const batch = this.pendingRejections;
    this.pendingRejections = [];
    await this.deps.predictions.put(batch);
  }
}
