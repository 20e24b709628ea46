/** The services an engine gives every execution it runs: time, integrations, S3, logging, progress, identity. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { EngineLog } from './engine-log.ts';
import type { MapRunDescription } from './engine-types.ts';
import type { IntegrationRegistry } from './integrations.ts';
import type { IntrinsicRuntime } from './intrinsic-functions.ts';
import type { ProgressListener } from './progress-events.ts';
import type { EngineClock, Sleeper } from './timers.ts';

/** What every execution of one engine shares. */
export interface EngineServices {
  readonly clock: EngineClock;
  readonly sleeper: Sleeper;
  readonly integrations: IntegrationRegistry;
  readonly s3: S3Client | undefined;
  readonly log: EngineLog;
  readonly intrinsics: IntrinsicRuntime;
  readonly emit: ProgressListener;
  readonly region: string;
  readonly accountId: string;
  readonly roleArn: string;
  /** Upper bound on concurrent iterations / child executions, whatever MaxConcurrency says. */
  readonly concurrencyCap: number;
  readonly mapRuns: Map<string, MapRunDescription>;
}
