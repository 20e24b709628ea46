import { InvalidInputError } from '../../shared/errors.ts';
import { classifyDataset } from '../../shared/execution-input.ts';
import type { Log } from '../../shared/logging.ts';
import type { ExecutionStarter } from '../../shared/ports.ts';
import { formatS3Uri, isInside, type S3Location } from '../../shared/s3-location.ts';
import { hashOf } from '../../shared/settings-hash.ts';
import type { ObjectCreatedEvent, ScheduledRunEvent, TriggerEvent } from '../../shared/stage-events.ts';

/** The calendar date (YYYY-MM-DD) of an instant in a time zone. */
export function scheduledDate(scheduledTime: string, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(scheduledTime));
  return parts; // en-CA formats as YYYY-MM-DD
}

export interface TriggerDeps {
  readonly starter: ExecutionStarter;
  /** Only manifests under this location start runs. */
  readonly manifestLocation: S3Location;
  readonly log: Log;
}

export type TriggerResult =
  | { readonly outcome: 'started'; readonly executionName: string; readonly executionArn: string }
  | { readonly outcome: 'duplicate'; readonly executionName: string }
  | { readonly outcome: 'ignored'; readonly reason: string };

/** Step Functions execution names: at most 80 characters of letters, digits, '-' and '_'. */
const NAME_LIMIT = 80;

/**
 * The execution name for a manifest version: readable (from the key) and unique per bucket + key + ETag, so the
 * same upload seen twice (EventBridge delivers at least once) maps to one execution, and a changed manifest
 * uploaded again under the same key starts a new run.
 */
export function executionNameFor(bucket: string, key: string, etag: string): string {
  const digest = hashOf({ bucket, key, etag: etag.replaceAll('"', '') }).slice(0, 20);
  const base = key
    .replace(/\.[^./]+$/, '')
    .split('/')
    .pop()
    ?.replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const readable = `manifest-${base || 'x'}`.slice(0, NAME_LIMIT - digest.length - 1);
  return `${readable}-${digest}`;
}

/** Turns a manifest upload, or a nightly schedule firing, into exactly one run. */
export async function runTrigger(event: TriggerEvent, deps: TriggerDeps): Promise<TriggerResult> {
  switch (event.source) {
    case 'aws.s3':
      return runManifest(event, deps);
    case 'nightshift.schedule':
      return runScheduled(event, deps);
  }
}

async function runManifest(event: ObjectCreatedEvent, deps: TriggerDeps): Promise<TriggerResult> {
  const { bucket, object } = event.detail;
  const location: S3Location = { bucket: bucket.name, key: object.key };
  if (!isInside(location, deps.manifestLocation)) {
    const reason = `${formatS3Uri(location)} is outside the manifest location ${formatS3Uri(deps.manifestLocation)}`;
    deps.log.info('ignored', { reason });
    return { outcome: 'ignored', reason };
  }
  let dataset: string;
  try {
    const source = classifyDataset(formatS3Uri(location));
    if (source.type !== 'manifest') throw new InvalidInputError('not a manifest');
    dataset = formatS3Uri(location);
  } catch {
    const reason = `${formatS3Uri(location)} is not a manifest (.json, .manifest or .jsonl)`;
    deps.log.info('ignored', { reason });
    return { outcome: 'ignored', reason };
  }
  // S3 always sends an ETag for Object Created; without one, the size stands in so names stay deterministic.
  const name = executionNameFor(bucket.name, object.key, object.etag ?? `size-${object.size ?? 0}`);
  const result = await deps.starter.start({ name, input: { dataset, runId: name } });
  if (!result.started) {
    deps.log.info('duplicate trigger: the run already exists', { executionName: name });
    return { outcome: 'duplicate', executionName: name };
  }
  deps.log.info('run started', { executionName: name, executionArn: result.executionArn, dataset });
  return { outcome: 'started', executionName: name, executionArn: result.executionArn };
}

async function runScheduled(event: ScheduledRunEvent, deps: TriggerDeps): Promise<TriggerResult> {
  const { scheduledTime, timeZone, dataset, preprocess, transform } = event;
  let date: string;
  try {
    date = scheduledDate(scheduledTime, timeZone);
  } catch (error) {
    throw new InvalidInputError(`scheduled run event: timeZone "${timeZone}" is not an IANA time zone`, {
      cause: error,
    });
  }
  const name = `nightly-${date}`;
  const input = {
    dataset: dataset.replaceAll('{date}', date),
    runId: name,
    ...(preprocess ? { preprocess } : {}),
    ...(transform ? { transform } : {}),
  };
  const result = await deps.starter.start({ name, input });
  if (!result.started) {
    deps.log.info('duplicate schedule delivery: the run already exists', { executionName: name });
    return { outcome: 'duplicate', executionName: name };
  }
  deps.log.info('nightly run started', {
    executionName: name,
    executionArn: result.executionArn,
    dataset: input.dataset,
  });
  return { outcome: 'started', executionName: name, executionArn: result.executionArn };
}
