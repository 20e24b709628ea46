/** Shapes shared by the engine's parts and its callers. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { EngineLog } from './engine-log.ts';
import type { IntegrationRegistry } from './integrations.ts';
import type { IntrinsicRuntime } from './intrinsic-functions.ts';
import type { ProgressListener } from './progress-events.ts';
import type { EngineClock, Sleeper } from './timers.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** How an execution ended, as `DescribeExecution` reports it. */
export interface ExecutionResult {
  readonly status: Exclude<ExecutionStatus, 'RUNNING'>;
  /** The execution's output (parsed JSON) when it succeeded. */
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: Date;
  readonly stopDate: Date;
}

/** `DescribeMapRun`'s `itemCounts`: items, not child executions (a batch of 10 items counts 10). */
export interface MapRunItemCounts {
  readonly pending: number;
  readonly running: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly timedOut: number;
  readonly aborted: number;
  readonly total: number;
  readonly resultsWritten: number;
}

/** `DescribeMapRun`, with the counts of items and of child executions. */
export interface MapRunDescription {
  readonly mapRunArn: string;
  readonly executionArn: string;
  readonly stateName: string;
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly startDate: Date;
  readonly stopDate?: Date;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage: number;
  readonly toleratedFailureCount: number;
  readonly itemCounts: MapRunItemCounts;
  readonly executionCounts: MapRunItemCounts;
}

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
