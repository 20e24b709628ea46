import { z } from 'zod';
import { ServiceError } from './errors.ts';
import { formatIssues } from './execution-input.ts';
import type { LogLevel } from './logging.ts';
import { parseS3Uri, type S3Location } from './s3-location.ts';

const S3_PREFIX_LIST = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((uri) => parseS3Uri(uri, 'ALLOWED_DATASET_LOCATIONS entry')),
  );

/** The Lambda environment the stack sets for every stage; parsed once per cold start. */
export const StageEnvSchema = z.object({
  PIPELINE_BUCKET: z.string().min(3),
  RUNS_TABLE: z.string().min(3),
  PREDICTIONS_TABLE: z.string().min(3),
  /** Comma-separated `s3://bucket/prefix/` list the datasets and manifest lines must lie in; empty = the pipeline bucket. */
  ALLOWED_DATASET_LOCATIONS: S3_PREFIX_LIST,
  /** Where the manifest trigger watches for manifests, `s3://bucket/prefix/`. */
  MANIFEST_LOCATION: z.string().optional(),
  STATE_MACHINE_ARN: z.string().optional(),
  /** Where finalize-failure publishes failures it finalizes itself. */
  NOTIFICATION_TOPIC_ARN: z.string().optional(),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
});

export interface StageConfig {
  readonly pipelineBucket: string;
  readonly runsTable: string;
  readonly predictionsTable: string;
  readonly allowedDatasetLocations: readonly S3Location[];
  readonly manifestLocation?: S3Location;
  readonly stateMachineArn?: string;
  readonly notificationTopicArn?: string;
  readonly logLevel: LogLevel;
}

/**
 * Parses the environment, naming every missing or malformed variable. A bad environment is a deployment bug, not
 * the caller's mistake: ServiceError, which the state machine leaves uncaught, so the run is redrivable once the
 * stack is fixed.
 */
export function parseStageConfig(env: Readonly<Record<string, string | undefined>>): StageConfig {
  const result = StageEnvSchema.safeParse(env);
  if (!result.success) throw new ServiceError(formatIssues(result.error, 'stage environment'));
  const e = result.data;
  const allowed =
    e.ALLOWED_DATASET_LOCATIONS.length > 0 ? e.ALLOWED_DATASET_LOCATIONS : [{ bucket: e.PIPELINE_BUCKET, key: '' }];
  return Object.freeze({
    pipelineBucket: e.PIPELINE_BUCKET,
    runsTable: e.RUNS_TABLE,
    predictionsTable: e.PREDICTIONS_TABLE,
    allowedDatasetLocations: Object.freeze(allowed),
    ...(e.MANIFEST_LOCATION ? { manifestLocation: parseS3Uri(e.MANIFEST_LOCATION, 'MANIFEST_LOCATION') } : {}),
    ...(e.STATE_MACHINE_ARN ? { stateMachineArn: e.STATE_MACHINE_ARN } : {}),
    ...(e.NOTIFICATION_TOPIC_ARN ? { notificationTopicArn: e.NOTIFICATION_TOPIC_ARN } : {}),
    logLevel: e.LOG_LEVEL,
  });
}

const OPTIONAL_SETTINGS = {
  manifestLocation: 'MANIFEST_LOCATION',
  stateMachineArn: 'STATE_MACHINE_ARN',
  notificationTopicArn: 'NOTIFICATION_TOPIC_ARN',
} as const;

/** A setting only some stages need; one that needs it and lacks it fails with a ServiceError naming the variable. */
export function requiredSetting<K extends keyof typeof OPTIONAL_SETTINGS>(
  config: StageConfig,
  key: K,
): NonNullable<StageConfig[K]> {
  const value = config[key];
  if (value === undefined) {
    throw new ServiceError(`stage environment is invalid: ${OPTIONAL_SETTINGS[key]} is not set`);
  }
  return value as NonNullable<StageConfig[K]>;
}
