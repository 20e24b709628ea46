/**
 * Reads what a Distributed Map's `ResultWriter` exported to S3: the aggregate Map's child outputs (`{parts}`, one
 * PartStats per transform output object of the child's batch) when they are too many for the 256 KiB state payload.
 *
 * Format, as "ResultWriter (Map)" in the Step Functions Developer Guide documents it
 * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html):
 * - The Map's output names `ResultWriterDetails: { Bucket, Key }`, the Key ending in `<prefix>/<map run id>/manifest.json`.
 * - `manifest.json` is `{ DestinationBucket, MapRunArn, ResultFiles: { FAILED: [...], PENDING: [...], SUCCEEDED:
 *   [...] } }`, each list holding `{ Key, Size }` of result files (`SUCCEEDED_0.json`, `SUCCEEDED_1.json`, ...) in
 *   the destination bucket, keys in full.
 * - A result file holds child executions of one status: a JSON array with `OutputType: JSON` (the default) or one
 *   entry a line with `JSONL`. With `Transformation: NONE`, the default when exporting to S3, an entry is the child's
 *   metadata (`ExecutionArn`, `Input`, `Name`, `Status`, `StartDate`, `StopDate`, ...) whose `Output` is the child's
 *   output as a JSON *string*; `COMPACT` and `FLATTEN` write the output itself. Failed children are always written
 *   as with NONE, carrying `Error` and `Cause`.
 */
import { z } from 'zod';
import { PipelineStateError } from '../../shared/errors.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import type { ObjectStore } from '../../shared/ports.ts';
import { type PartStats, PartStatsSchema } from '../../shared/records.ts';
import { formatS3Uri, type S3Location } from '../../shared/s3-location.ts';
import { AggregateResultSchema } from '../../shared/stage-events.ts';

const ChildOutputSchema = z.union([AggregateResultSchema, PartStatsSchema]);

const ResultFileSchema = z.looseObject({ Key: z.string().min(1), Size: z.number().optional() });

/** `manifest.json`; loose, so statuses and fields AWS adds later do not break the report. */
export const ResultWriterManifestSchema = z.looseObject({
  DestinationBucket: z.string().optional(),
  MapRunArn: z.string().optional(),
  ResultFiles: z.looseObject({
    SUCCEEDED: z.array(ResultFileSchema).default([]),
    FAILED: z.array(ResultFileSchema).default([]),
    PENDING: z.array(ResultFileSchema).default([]),
  }),
});
export type ResultWriterManifest = z.infer<typeof ResultWriterManifestSchema>;

/** Why a child execution failed, shortened for the report. */
export interface ChildFailure {
  readonly error: string;
  readonly cause: string;
}

/** What the Map Run's export says. */
export interface MapRunResults {
  readonly mapRunArn?: string;
  readonly manifest: string;
  /** The outputs of the succeeded child executions. */
  readonly parts: PartStats[];
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  /** The first few failures. */
  readonly failures: ChildFailure[];
}

const MAX_FAILURES = 10;
const MAX_CAUSE_CHARS = 500;

/**
 * Reads the manifest and every result file it lists. The files grow with the number of parts (transform output
 * objects), never with the number of items, so each is read whole.
 */
export async function readMapRunResults(objects: ObjectStore, manifestAt: S3Location): Promise<MapRunResults> {
  const manifestUri = formatS3Uri(manifestAt);
  const raw = await readJson(objects, manifestAt, 'the aggregate Map Run results manifest');
  const parsed = ResultWriterManifestSchema.safeParse(raw);
  if (!parsed.success) throw new PipelineStateError(formatIssues(parsed.error, `ResultWriter manifest ${manifestUri}`));
  const manifest = parsed.data;

  // Result files lie in the manifest's DestinationBucket, which is the bucket the Map was told to write to; reading
  // only from the bucket the report was given keeps the report inside what it may read.
  const inBucket = (key: string): S3Location => ({ bucket: manifestAt.bucket, key });

  const parts: PartStats[] = [];
  let succeeded = 0;
  for (const file of manifest.ResultFiles.SUCCEEDED) {
    const entries = await readResultFile(objects, inBucket(file.Key));
    entries.forEach((entry, index) => {
      parts.push(...partStatsOf(entry, `entry ${index} of ${formatS3Uri(inBucket(file.Key))}`));
    });
    succeeded += entries.length;
  }

  const failures: ChildFailure[] = [];
  let failed = 0;
  for (const file of manifest.ResultFiles.FAILED) {
    const entries = await readResultFile(objects, inBucket(file.Key));
    failed += entries.length;
    for (const entry of entries) {
      if (failures.length < MAX_FAILURES) failures.push(failureOf(entry));
    }
  }

  let pending = 0;
  for (const file of manifest.ResultFiles.PENDING) {
    pending += (await readResultFile(objects, inBucket(file.Key))).length;
  }

  return {
    ...(manifest.MapRunArn ? { mapRunArn: manifest.MapRunArn } : {}),
    manifest: manifestUri,
    parts,
    succeeded,
    failed,
    pending,
    failures,
  };
}

async function readJson(objects: ObjectStore, location: S3Location, what: string): Promise<unknown> {
  const text = await readText(objects, location, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PipelineStateError(`${what} ${formatS3Uri(location)} is not JSON`, { cause: error });
  }
}

async function readText(objects: ObjectStore, location: S3Location, what: string): Promise<string> {
  const body = await objects.get(location);
  if (body === undefined) {
    throw new PipelineStateError(
      `${what} ${formatS3Uri(location)} does not exist; the aggregate Distributed Map's ResultWriter writes it`,
    );
  }
  return new TextDecoder().decode(body);
}

/** The entries of one result file, a JSON array or JSON Lines. */
async function readResultFile(objects: ObjectStore, location: S3Location): Promise<unknown[]> {
  const text = await readText(objects, location, 'Map Run result file');
  const uri = formatS3Uri(location);
  try {
    if (text.trimStart().startsWith('[')) {
      const value: unknown = JSON.parse(text);
      if (Array.isArray(value)) return value;
    } else {
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as unknown);
    }
  } catch (error) {
    throw new PipelineStateError(`Map Run result file ${uri} is neither a JSON array nor JSON Lines`, { cause: error });
  }
  throw new PipelineStateError(`Map Run result file ${uri} is not a JSON array`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The PartStats a succeeded child returned: `Output` as a JSON string (NONE), or the entry itself (COMPACT). A child
 * returns `{parts}` for its batch; a bare PartStats is a child of the one-part-per-child map that this deployment
 * replaced, whose results a redriven run still holds.
 */
function partStatsOf(entry: unknown, where: string): PartStats[] {
  let output: unknown = entry;
  if (isRecord(entry) && typeof entry.Output === 'string') {
    try {
      output = JSON.parse(entry.Output);
    } catch (error) {
      throw new PipelineStateError(`the Output of ${where} is not JSON`, { cause: error });
    }
  }
  const parsed = ChildOutputSchema.safeParse(output);
  if (!parsed.success) {
    throw new PipelineStateError(formatIssues(parsed.error, `the aggregate stage's output in ${where}`));
  }
  return 'parts' in parsed.data ? parsed.data.parts : [parsed.data];
}

function failureOf(entry: unknown): ChildFailure {
  const error = isRecord(entry) && typeof entry.Error === 'string' ? entry.Error : 'States.Unknown';
  const cause = isRecord(entry) && typeof entry.Cause === 'string' ? entry.Cause : '';
  return { error, cause: cause.length > MAX_CAUSE_CHARS ? `${cause.slice(0, MAX_CAUSE_CHARS)}...` : cause };
}
