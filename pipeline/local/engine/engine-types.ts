/** Shapes shared by the engine's parts and its callers. */

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
