/**
 * The AWS implementation of the {@link RunBackend} port: runs are executions of the stack's state machine
 * (StartExecution, RedriveExecution, followed with DescribeExecution and friends), and the read commands read the
 * stack's runs table, predictions table and bucket.
 */
import { RedriveExecutionCommand } from '@aws-sdk/client-sfn';
import { SfnExecutionStarter } from '../../shared/aws/sfn-execution-starter.ts';
import { formatDuration } from '../../shared/format-duration.ts';
import type { Clock } from '../../shared/ports.ts';
import { awsCall, awsErrorName, CliFailure, explainAwsError } from '../run-backend/failures.ts';
import type {
  CliIo,
  RedriveRequest,
  ReportFiles,
  RunBackend,
  RunListing,
  RunsQuery,
  RunView,
  StageLogLine,
  StartRequest,
  WatchRequest,
} from '../run-backend/run-backend.ts';
import { StoredRuns } from '../run-backend/stored-runs.ts';
import type { AwsClients } from './aws-clients.ts';
import { ExecutionProgressReader, type ExecutionSnapshot } from './execution-progress.ts';
import { followExecution } from './execution-watch.ts';
import {
  describeExecution,
  executionArnFor,
  executionConsoleUrl,
  executionNameOf,
  type RunExecution,
  runNotFound,
} from './executions.ts';
import { formatCount, formatTimestamp, type Painter, paintStatus, writeJson, writeJsonLine } from './output.ts';
import { queryRunLogs } from './run-logs.ts';
import type { StackOutputs } from './stack-outputs.ts';

/** Step Functions redrives executions that stopped within the last 14 days (RedriveExecution). */
export const REDRIVE_WINDOW_MS = 14 * 86_400_000;
const REDRIVABLE = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/** How the AWS backend reaches AWS and the user; `CommandContext` provides it. */
export interface AwsAccess {
  readonly io: CliIo;
  readonly paint: Painter;
  readonly json: boolean;
  readonly stackName: string;
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
  /** The AWS clients, built on first use. */
  aws(): AwsClients;
  region(): Promise<string>;
  /** The stack's outputs, read once per command. */
  stack(): Promise<StackOutputs>;
}

/** Runs on AWS, as executions of the deployed stack's state machine. */
export class AwsRunBackend implements RunBackend {
  readonly selector = '';
  private storedPromise?: Promise<StoredRuns>;

  constructor(private readonly access: AwsAccess) {}

  async where(): Promise<string> {
    return (await this.stored()).storage.where;
  }

  async start(request: StartRequest): Promise<number> {
    const { io, paint, json } = this.access;
    const { name, input, wait } = request;
    const stack = await this.access.stack();
    const starter = new SfnExecutionStarter(this.access.aws().sfn, stack.StateMachineArn);
    let result: Awaited<ReturnType<SfnExecutionStarter['start']>>;
    try {
      result = await starter.start({ name, input });
    } catch (error) {
      throw explainAwsError(error, 'states:StartExecution');
    }
    if (!result.started) {
      throw new CliFailure(
        'RUN_EXISTS',
        `run "${name}" already exists (execution names stay taken for 90 days): follow it with \`nightshift watch ${name}\`, ` +
          'or pick another --run-id',
      );
    }
    const { executionArn } = result;
    const consoleUrl = executionConsoleUrl(executionArn);
    if (json) {
      (wait ? writeJsonLine : writeJson)(io, { event: 'started', runId: name, executionArn, console: consoleUrl });
    } else {
      io.stdout(
        `started run ${paint.bold(name)}\n  execution  ${executionArn}\n  console    ${consoleUrl}\n` +
          (wait ? '' : `follow it with: nightshift watch ${name}\n`),
      );
    }
    return wait ? this.follow({ runId: executionNameOf(executionArn), executionArn }, request.timeoutMs) : 0;
  }

  async watch(request: WatchRequest): Promise<number> {
    return this.follow(await this.resolveExecution(request.run), request.timeoutMs);
  }

  async redrive(request: RedriveRequest): Promise<number> {
    const { io, paint, json, clock } = this.access;
    const execution = await this.resolveExecution(request.run);
    const { sfn } = this.access.aws();
    const described = await describeExecution(sfn, execution);
    const status = described.status ?? 'UNKNOWN';
    const name = execution.runId;
    if (!REDRIVABLE.has(status)) {
      const next =
        status === 'SUCCEEDED'
          ? 'there is nothing to redrive; start a new run with `nightshift start`'
          : `only FAILED, TIMED_OUT or ABORTED runs can be redriven; follow it with \`nightshift watch ${name}\``;
      throw new CliFailure('NOT_REDRIVABLE', `run "${name}" is ${status}: ${next}`);
    }
    const stoppedAt = described.stopDate;
    if (stoppedAt && clock.now().getTime() - stoppedAt.getTime() > REDRIVE_WINDOW_MS) {
      const days = Math.floor((clock.now().getTime() - stoppedAt.getTime()) / 86_400_000);
      throw new CliFailure(
        'NOT_REDRIVABLE',
        `run "${name}" stopped ${formatTimestamp(stoppedAt)} (${days} days ago): Step Functions redrives only runs that ` +
          'stopped within 14 days; start a new run with `nightshift start` and a new --run-id',
      );
    }
    if (described.redriveStatus === 'NOT_REDRIVABLE') {
      throw new CliFailure(
        'NOT_REDRIVABLE',
        `Step Functions will not redrive run "${name}": ${described.redriveStatusReason ?? 'no reason given'}; start a new run with \`nightshift start\``,
      );
    }
    const out = await awsCall('states:RedriveExecution', async () => {
      try {
        return await sfn.send(new RedriveExecutionCommand({ executionArn: execution.executionArn }));
      } catch (error) {
        const errorName = awsErrorName(error);
        if (errorName === 'ExecutionNotRedrivable') {
          throw new CliFailure(
            'NOT_REDRIVABLE',
            `Step Functions refused to redrive run "${name}": ${(error as Error).message}; start a new run with \`nightshift start\``,
            { cause: error },
          );
        }
        if (errorName === 'ExecutionDoesNotExist') throw runNotFound(execution);
        throw error;
      }
    });
    const redrive = (described.redriveCount ?? 0) + 1;
    const consoleUrl = executionConsoleUrl(execution.executionArn);
    if (json) {
      writeJson(io, {
        runId: name,
        executionArn: execution.executionArn,
        redrive,
        redriveDate: out.redriveDate?.toISOString(),
        console: consoleUrl,
      });
    } else {
      io.stdout(
        `redriving run ${paint.bold(name)} (redrive ${redrive}) from where it ${status}\n` +
          `  execution  ${execution.executionArn}\n  console    ${consoleUrl}\n` +
          (request.wait ? '' : `follow it with: nightshift watch ${name}\n`),
      );
    }
    return request.wait ? this.follow(execution, request.timeoutMs) : 0;
  }

  async runs(query: RunsQuery): Promise<RunListing> {
    return (await this.stored()).list(query);
  }

  async status(runId: string): Promise<RunView> {
    const view = await (await this.stored()).view(runId);
    const { run } = view;
    return {
      ...view,
      ...(run.executionId ? { console: executionConsoleUrl(run.executionId) } : {}),
    };
  }

  async report(runId: string, directory: string): Promise<ReportFiles> {
    return (await this.stored()).downloadReport(runId, directory);
  }

  async predictions(runId: string, filter: { readonly keyPrefix?: string }) {
    return (await this.stored()).predictions(runId, filter);
  }

  /** The run's stage lines from CloudWatch Logs Insights over the stack's log groups (`run-logs.ts`). */
  async logs(runId: string): Promise<readonly StageLogLine[]> {
    const run = await (await this.stored()).get(runId);
    const { aws, clock, sleep, stackName } = this.access;
    return queryRunLogs({
      logs: aws().logs,
      cloudFormation: aws().cloudFormation,
      stackName,
      run,
      now: clock.now(),
      sleep,
    });
  }

  /** The clients belong to the command context, which destroys them. */
  async close(): Promise<void> {}

  private stored(): Promise<StoredRuns> {
    this.storedPromise ??= Promise.all([this.access.region(), this.access.stack()]).then(([region, stack]) => {
      const clients = this.access.aws();
      return new StoredRuns(
        {
          where: `stack ${this.access.stackName} in ${region}`,
          selector: this.selector,
          pipelineBucket: stack.PipelineBucketName,
          runsTable: stack.RunsTableName,
          predictionsTable: stack.PredictionsTableName,
          s3: clients.s3,
          doc: clients.doc,
        },
        this.access.clock,
      );
    });
    return this.storedPromise;
  }

  /**
   * Finds the execution of `run`: an execution ARN as given; else the run record's `executionId` (the plan stage
   * stores `$$.Execution.Id`, which holds even when the execution name differs from the run id); else the execution
   * of that name in the stack's state machine (runs started by `nightshift start` or the triggers are named by run id).
   */
  private async resolveExecution(run: string): Promise<RunExecution> {
    if (run.startsWith('arn:')) return { runId: executionNameOf(run), executionArn: run };
    const stored = await this.stored();
    // The record is a better guide than the name, not a requirement: watch and redrive need only Step Functions.
    const record = await stored.find(run).catch(() => undefined);
    if (record?.executionId?.startsWith('arn:')) return { runId: run, executionArn: record.executionId };
    const stack = await this.access.stack();
    return { runId: run, executionArn: executionArnFor(stack.StateMachineArn, run) };
  }

  /** Follows one execution and reports its end; the exit code is 0 only when it SUCCEEDED. */
  private async follow(execution: RunExecution, timeoutMs: number): Promise<number> {
    const { io, json, clock, sleep } = this.access;
    const aws = this.access.aws();
    const reader = new ExecutionProgressReader(aws.sfn, aws.sagemaker);
    const { snapshot, timedOut } = await followExecution(() => reader.read(execution), {
      timeoutMs,
      sleep,
      clock,
      onSnapshot: (current, changed) => {
        if (!changed) return;
        if (json) writeJsonLine(io, { event: 'progress', at: clock.now().toISOString(), ...current });
        else io.stdout(`${this.progressLine(current)}\n`);
      },
      onTransientError: (error, consecutive) => {
        io.stderr(`warning: could not read the run (${error.message}); trying again (${consecutive})\n`);
      },
    });
    const succeeded = snapshot.status === 'SUCCEEDED' && !timedOut;
    if (json) writeJsonLine(io, { event: timedOut ? 'gave-up' : 'finished', ...snapshot, timedOut });
    else io.stdout(`${this.finalLine(snapshot, timedOut, timeoutMs)}\n`);
    return succeeded ? 0 : 1;
  }

  private progressLine(snapshot: ExecutionSnapshot): string {
    const { paint } = this.access;
    const time = this.access.clock.now().toISOString().slice(11, 19);
    const parts = [paint.dim(time), paintStatus(paint, snapshot.status)];
    if (snapshot.currentState) parts.push(paint.bold(snapshot.currentState));
    for (const map of snapshot.maps) {
      const detail = [
        map.failed > 0 ? paint.red(`${formatCount(map.failed)} failed`) : '',
        map.running > 0 ? `${formatCount(map.running)} running` : '',
        map.pending > 0 ? `${formatCount(map.pending)} pending` : '',
      ].filter(Boolean);
      parts.push(
        `${map.label} ${formatCount(map.succeeded)}/${formatCount(map.total)}${detail.length ? ` (${detail.join(', ')})` : ''}`,
      );
    }
    if (snapshot.transformJob) {
      parts.push(`transform ${snapshot.transformJob.name} ${paintStatus(paint, snapshot.transformJob.status)}`);
    }
    return parts.join('  ');
  }

  private finalLine(snapshot: ExecutionSnapshot, timedOut: boolean, timeoutMs: number): string {
    const { paint } = this.access;
    const run = paint.bold(snapshot.runId);
    if (timedOut) {
      return `stopped watching run ${run} after ${formatDuration(timeoutMs / 1000)}: it is still ${snapshot.status}; watch it again with \`nightshift watch ${snapshot.runId}\``;
    }
    const took =
      snapshot.startDate && snapshot.stopDate
        ? ` after ${formatDuration((Date.parse(snapshot.stopDate) - Date.parse(snapshot.startDate)) / 1000)}`
        : '';
    if (snapshot.status === 'SUCCEEDED') {
      return `run ${run} ${paintStatus(paint, 'SUCCEEDED')}${took}; see it with \`nightshift status ${snapshot.runId}\` or \`nightshift report ${snapshot.runId} --open\``;
    }
    const why = [snapshot.error, snapshot.cause ? oneLine(snapshot.cause, 300) : undefined].filter(Boolean).join(': ');
    const job = snapshot.transformJob?.failureReason
      ? ` (transform job: ${oneLine(snapshot.transformJob.failureReason, 200)})`
      : '';
    return `run ${run} ${paintStatus(paint, snapshot.status)}${took}${why ? `: ${why}` : ''}${job}; redrive it with \`nightshift redrive ${snapshot.runId}\``;
  }
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}\u2026` : flat;
}
