/**
 * A Distributed Map's `ResultWriter` ("ResultWriter (Map)", https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
 *
 * Exported to S3 (`Resource: arn:aws:states:::s3:putObject`, `Parameters: {Bucket, Prefix}`), the Map Run writes
 * under `<Prefix>/<map run id>/`:
 * - `SUCCEEDED_0.json`, `FAILED_0.json`, `PENDING_0.json`: the child executions of each status, written only when
 *   there are any; a JSON array (or JSON Lines with `WriterConfig.OutputType: JSONL`). An entry is the child's
 *   metadata with `Input`/`Output` as JSON *strings*: `{ExecutionArn, Input, InputDetails: {Included: true}, Name,
 *   Output, OutputDetails: {Included: true}, RedriveCount, RedriveStatus, RedriveStatusReason, StartDate,
 *   StateMachineArn, Status, StopDate}`, failures with `Error` and `Cause` instead of `Output`;
 * - `manifest.json`: `{DestinationBucket, MapRunArn, ResultFiles: {FAILED: [...], PENDING: [...], SUCCEEDED: [...]}}`
 *   listing `{Key, Size}` of those files, keys in full;
 * and the Map state's result is `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`, the Key naming the manifest.
 * `Transformation` (NONE, the default when exporting; COMPACT; FLATTEN) shapes the succeeded entries; failed ones
 * are always written as with NONE. Any S3 failure is `States.ResultWriterFailed`.
 *
 * Local choices: a trailing `/` on the Prefix is dropped so keys never hold `//`; each status goes to one file
 * (AWS starts another file past 5 GB); children that timed out or were aborted go to the FAILED file.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ResultWriterConfig } from './asl.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';

/** One child execution of a Map Run, as the Map Run knows it. */
export interface ChildRecord {
  readonly index: number;
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly input: unknown;
  readonly status: 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
}

type Transformation = 'NONE' | 'COMPACT' | 'FLATTEN';

/** The child's entry as `Transformation: NONE` writes it, keys in the order AWS writes them. */
export function fullEntry(child: ChildRecord): Record<string, unknown> {
  const succeeded = child.status === 'SUCCEEDED';
  return {
    ...(succeeded || child.status === 'PENDING' ? {} : { Cause: child.cause ?? '', Error: child.error ?? '' }),
    ExecutionArn: child.executionArn,
    Input: JSON.stringify(child.input),
    InputDetails: { Included: true },
    Name: child.name,
    ...(succeeded ? { Output: JSON.stringify(child.output), OutputDetails: { Included: true } } : {}),
    RedriveCount: 0,
    // A succeeded child cannot be redriven; failed ones can (DescribeExecution's redriveStatus/redriveStatusReason).
    RedriveStatus: succeeded ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
    ...(succeeded ? { RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven' } : {}),
    ...(child.startDate ? { StartDate: child.startDate.toISOString() } : {}),
    StateMachineArn: child.stateMachineArn,
    Status: child.status,
    ...(child.stopDate ? { StopDate: child.stopDate.toISOString() } : {}),
  };
}

/** Succeeded children's entries under a Transformation; failed children always as NONE. */
export function transformedEntries(children: readonly ChildRecord[], transformation: Transformation): unknown[] {
  const out: unknown[] = [];
  for (const child of children) {
    if (child.status !== 'SUCCEEDED' || transformation === 'NONE') out.push(fullEntry(child));
    else if (transformation === 'FLATTEN' && Array.isArray(child.output)) out.push(...child.output);
    else out.push(child.output);
  }
  return out;
}

export interface WriteResultsRequest {
  readonly config: ResultWriterConfig;
  /** The writer's Parameters, evaluated. */
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly mapRunArn: string;
  readonly mapRunId: string;
  readonly children: readonly ChildRecord[];
  readonly signal: AbortSignal;
}

export interface ResultWriterDetails {
  readonly Bucket: string;
  readonly Key: string;
}

export async function writeResults(s3: S3Client, request: WriteResultsRequest): Promise<ResultWriterDetails> {
  const { parameters, config } = request;
  const bucket = parameters.Bucket;
  if (typeof bucket !== 'string' || bucket === '') {
    throw new StatesError(StatesErrors.ResultWriterFailed, 'the ResultWriter Parameters need a Bucket name');
  }
  const prefix = typeof parameters.Prefix === 'string' ? parameters.Prefix.replace(/\/+$/, '') : '';
  const base = prefix === '' ? request.mapRunId : `${prefix}/${request.mapRunId}`;
  const transformation = config.WriterConfig?.Transformation ?? 'NONE';
  const jsonLines = config.WriterConfig?.OutputType === 'JSONL';
  const groups: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', ChildRecord[]> = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const child of request.children) {
    if (child.status === 'SUCCEEDED') groups.SUCCEEDED.push(child);
    else if (child.status === 'PENDING') groups.PENDING.push(child);
    else groups.FAILED.push(child);
  }
  const put = async (key: string, body: string): Promise<number> => {
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }), {
        abortSignal: request.signal,
      });
    } catch (error) {
      if (request.signal.aborted) throw request.signal.reason;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new StatesError(StatesErrors.ResultWriterFailed, `writing s3://${bucket}/${key} failed: ${message}`);
    }
    return Buffer.byteLength(body, 'utf8');
  };
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = {
    SUCCEEDED: [],
    FAILED: [],
    PENDING: [],
  };
  for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
    const children = groups[status];
    if (children.length === 0) continue;
    const entries =
      status === 'SUCCEEDED' ? transformedEntries(children, transformation) : children.map((child) => fullEntry(child));
    const body = jsonLines
      ? entries
          .map((entry) => JSON.stringify(entry))
          .join('\n')
          .concat('\n')
      : JSON.stringify(entries);
    const key = `${base}/${status}_0.json`;
    files[status].push({ Key: key, Size: await put(key, body) });
  }
  const manifestKey = `${base}/manifest.json`;
  const manifest = {
    DestinationBucket: bucket,
    MapRunArn: request.mapRunArn,
    ResultFiles: { FAILED: files.FAILED, PENDING: files.PENDING, SUCCEEDED: files.SUCCEEDED },
  };
  await put(manifestKey, JSON.stringify(manifest));
  return { Bucket: bucket, Key: manifestKey };
}
