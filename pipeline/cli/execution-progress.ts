/**
 * One look at a running execution: its status, the state it is in, its Distributed Map runs' item counts and the
 * Batch Transform job's status. `watch` takes one of these per poll.
 */
import { DescribeTransformJobCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeMapRunCommand,
  type DescribeMapRunCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListMapRunsCommand,
  type MapRunListItem,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { awsCall } from '../run-backend/failures.ts';
import { describeExecution, type RunExecution } from './executions.ts';

/** Step Functions execution statuses after which nothing changes. */
export const FINAL_EXECUTION_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
const FINAL_MAP_RUN = new Set(['SUCCEEDED', 'FAILED', 'ABORTED']);
const FINAL_TRANSFORM_JOB = new Set(['Completed', 'Failed', 'Stopped']);

/** Item counts of a Distributed Map (all its map runs: Preprocess runs once per item part). */
export interface MapProgress {
  /** The Map state's label: `Preprocess` or `Aggregate` (pipeline/state-machine.ts). */
  readonly label: string;
  readonly status: string;
  readonly mapRuns: number;
  readonly succeeded: number;
  /** Failed, timed out and aborted items. */
  readonly failed: number;
  readonly running: number;
  readonly pending: number;
  readonly total: number;
}

export interface TransformJobProgress {
  readonly name: string;
  readonly status: string;
  readonly failureReason?: string;
}

export interface ExecutionSnapshot {
  readonly runId: string;
  readonly executionArn: string;
  readonly status: string;
  readonly startDate?: string;
  readonly stopDate?: string;
  /** The state most recently entered. */
  readonly currentState?: string;
  readonly maps: readonly MapProgress[];
  readonly transformJob?: TransformJobProgress;
  readonly error?: string;
  readonly cause?: string;
}

// The newest events are enough: the current state is the latest StateEntered and the transform job is scheduled
// after the preprocess loop, so its TaskScheduled is among the last few dozen events while the job matters.
const HISTORY_PAGE = 100;

/** Reads snapshots of one execution; finished map runs and transform jobs are described once and remembered. */
export class ExecutionProgressReader {
  private readonly finishedMapRuns = new Map<string, DescribeMapRunCommandOutput>();
  private finishedJob?: TransformJobProgress;

  constructor(
    private readonly sfn: SFNClient,
    private readonly sagemaker: SageMakerClient,
  ) {}

  async read(execution: RunExecution): Promise<ExecutionSnapshot> {
    const described = await describeExecution(this.sfn, execution);
    const status = described.status ?? 'RUNNING';
    const [history, maps] = await Promise.all([
      this.latestEvents(execution.executionArn),
      this.mapProgress(execution.executionArn),
    ]);
    const jobName = transformJobNameIn(history);
    const transformJob = jobName ? await this.transformJob(jobName) : undefined;
    const currentState = currentStateIn(history);
    return {
      runId: execution.runId,
      executionArn: execution.executionArn,
      status,
      ...(described.startDate ? { startDate: described.startDate.toISOString() } : {}),
      ...(described.stopDate ? { stopDate: described.stopDate.toISOString() } : {}),
      ...(currentState ? { currentState } : {}),
      maps,
      ...(transformJob ? { transformJob } : {}),
      ...(described.error ? { error: described.error } : {}),
      ...(described.cause ? { cause: described.cause } : {}),
    };
  }

  private async latestEvents(executionArn: string): Promise<HistoryEvent[]> {
    const out = await awsCall('states:GetExecutionHistory', () =>
      this.sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          reverseOrder: true,
          maxResults: HISTORY_PAGE,
          includeExecutionData: true,
        }),
      ),
    );
    return out.events ?? [];
  }

  private async mapProgress(executionArn: string): Promise<MapProgress[]> {
    const listed: MapRunListItem[] = [];
    let nextToken: string | undefined;
    do {
      const page = await awsCall('states:ListMapRuns', () =>
        this.sfn.send(new ListMapRunsCommand({ executionArn, ...(nextToken ? { nextToken } : {}) })),
      );
      listed.push(...(page.mapRuns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const described = await Promise.all(
      listed.flatMap((item) => (item.mapRunArn ? [this.describeMapRun(item.mapRunArn)] : [])),
    );
    const byLabel = new Map<string, DescribeMapRunCommandOutput[]>();
    for (const run of described) {
      const label = mapLabelOf(run.mapRunArn ?? '');
      byLabel.set(label, [...(byLabel.get(label) ?? []), run]);
    }
    return [...byLabel.entries()].map(([label, runs]) => summarise(label, runs));
  }

  private async describeMapRun(mapRunArn: string): Promise<DescribeMapRunCommandOutput> {
    const known = this.finishedMapRuns.get(mapRunArn);
    if (known) return known;
    const out = await awsCall('states:DescribeMapRun', () => this.sfn.send(new DescribeMapRunCommand({ mapRunArn })));
    if (FINAL_MAP_RUN.has(out.status ?? '')) this.finishedMapRuns.set(mapRunArn, out);
    return out;
  }

  private async transformJob(name: string): Promise<TransformJobProgress> {
    if (this.finishedJob?.name === name) return this.finishedJob;
    const out = await awsCall('sagemaker:DescribeTransformJob', () =>
      this.sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: name })),
    );
    const job: TransformJobProgress = {
      name,
      status: out.TransformJobStatus ?? 'Unknown',
      ...(out.FailureReason ? { failureReason: out.FailureReason } : {}),
    };
    if (FINAL_TRANSFORM_JOB.has(job.status)) this.finishedJob = job;
    return job;
  }
}

/** `arn:aws:states:r:a:mapRun:StateMachine/Preprocess:uuid` -> `Preprocess` */
export function mapLabelOf(mapRunArn: string): string {
  const resource = mapRunArn.split(':mapRun:')[1] ?? '';
  const slash = resource.indexOf('/');
  const colon = resource.lastIndexOf(':');
  return slash >= 0 && colon > slash ? resource.slice(slash + 1, colon) : 'Map';
}

function summarise(label: string, runs: readonly DescribeMapRunCommandOutput[]): MapProgress {
  const sum = (pick: (counts: NonNullable<DescribeMapRunCommandOutput['itemCounts']>) => number | undefined) =>
    runs.reduce((total, run) => total + (run.itemCounts ? (pick(run.itemCounts) ?? 0) : 0), 0);
  const statuses = runs.map((run) => run.status ?? 'RUNNING');
  const status = statuses.includes('RUNNING')
    ? 'RUNNING'
    : (statuses.find((s) => s === 'FAILED' || s === 'ABORTED') ?? statuses.at(-1) ?? 'RUNNING');
  return {
    label,
    status,
    mapRuns: runs.length,
    succeeded: sum((c) => c.succeeded),
    failed: sum((c) => (c.failed ?? 0) + (c.timedOut ?? 0) + (c.aborted ?? 0)),
    running: sum((c) => c.running),
    pending: sum((c) => c.pending),
    total: sum((c) => c.total),
  };
}

/** The latest state entered, from newest-first events. */
export function currentStateIn(newestFirst: readonly HistoryEvent[]): string | undefined {
  return newestFirst.find((event) => event.type?.endsWith('StateEntered'))?.stateEnteredEventDetails?.name;
}

/**
 * The transform job's name, from the newest task scheduled with a `TransformJobName` parameter: the Transform
 * task (`sagemaker:createTransformJob.sync`) or DescribeExistingJob. The name carries the redrive count, so it is
 * read from the history rather than rebuilt.
 */
export function transformJobNameIn(newestFirst: readonly HistoryEvent[]): string | undefined {
  for (const event of newestFirst) {
    const parameters = event.taskScheduledEventDetails?.parameters;
    if (event.type !== 'TaskScheduled' || !parameters) continue;
    try {
      const name = (JSON.parse(parameters) as { TransformJobName?: unknown }).TransformJobName;
      if (typeof name === 'string' && name !== '') return name;
    } catch {
      // Not JSON (history data can be truncated): look further back.
    }
  }
  return undefined;
}
