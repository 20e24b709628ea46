/**
 * The port between the `nightshift` CLI (`pipeline/cli`) and where runs live: the deployed stack on AWS
 * (`pipeline/cli/aws-run-backend.ts`) or this machine (`pipeline/local/local-run-backend.ts`). Commands parse their
 * options, call one {@link RunBackend} method and render what it returns; the CLI picks the backend once, from
 * `--local`. Neither side imports the other: what both need lives in this folder.
 */
import type { ExecutionInput } from '../../shared/execution-input.ts';
import type { Clock } from '../../shared/ports.ts';
import type { OutcomeRecord, RunRecord, RunStatus } from '../../shared/records.ts';

/**
 * What a command may touch of the outside world. The bin passes the process's; tests pass their own. Backends write
 * their progress and summaries only through it.
 */
export interface CliIo {
  /** Writes text to standard output as given; callers end their lines themselves. */
  readonly stdout: (text: string) => void;
  /** Writes text to standard error as given: errors, warnings and progress that scripts should not parse. */
  readonly stderr: (text: string) => void;
  /** Whether standard output is a terminal: colours only then (and never with `NO_COLOR`). */
  readonly isTTY: boolean;
  /** The environment: AWS settings, `NIGHTSHIFT_HOME`, `NO_COLOR`. Read here, never from `process.env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths on the command line (`--out`, `--state-dir`, `run --local ./images`) resolve against this. */
  readonly cwd: string;
}

/** A run to start, its input already validated by `parseExecutionInput`. */
export interface StartRequest {
  readonly input: ExecutionInput;
  /** The run id, which is also the execution name. */
  readonly name: string;
  /** Follow the run to its end. A local run always runs to its end: it lives in this process. */
  readonly wait: boolean;
  /** With `wait`: stop following after this long. */
  readonly timeoutMs: number;
  /** Local only: leave the local servers running afterwards. */
  readonly keepServers: boolean;
}

/** A run to follow: its run id (or, on AWS, an execution ARN). */
export interface WatchRequest {
  readonly run: string;
  readonly timeoutMs: number;
}

/** A stopped run to resume. */
export interface RedriveRequest {
  readonly run: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
}

/** Which runs `runs` lists. */
export interface RunsQuery {
  readonly limit: number;
  readonly status?: RunStatus;
}

/** How many predictions with expected text were read exactly (report.json's `accuracy`). */
export interface RunAccuracy {
  readonly withExpected: number;
  readonly matches: number;
  readonly rate: number;
}

/** The newest runs first, and rows skipped because they are not run records. */
export interface RunListing {
  readonly runs: readonly RunRecord[];
  /** By run id, for runs with a report: the accuracy, or null when no item had expected text. */
  readonly accuracy?: Readonly<Record<string, RunAccuracy | null>>;
  readonly skipped: number;
  /** The table read, for the warning about skipped rows. */
  readonly runsTable: string;
}

/** One run's record, and where to see its execution when there is a console for it. */
export interface RunView {
  readonly run: RunRecord;
  /** From the run's report: undefined without a report, null when no item had expected text. */
  readonly accuracy?: RunAccuracy | null;
  /** AWS only: the Step Functions console page of the execution. */
  readonly console?: string;
}

/** The three report files `report` downloaded, by part. */
export interface ReportFiles {
  readonly json: string;
  readonly csv: string;
  readonly html: string;
}

/** One structured log line a stage wrote for a run (Powertools JSON: level, message, timestamp, stage, runId). */
export interface StageLogLine {
  readonly timestamp: string;
  readonly level: string;
  readonly stage: string;
  readonly message: string;
  /** The whole line as logged, for `--json`. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A logged JSON object as a {@link StageLogLine}; undefined for anything else. */
export function stageLogLine(fields: unknown): StageLogLine | undefined {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
  const record = fields as Record<string, unknown>;
  const text = (key: string) => (typeof record[key] === 'string' ? (record[key] as string) : '');
  return {
    timestamp: text('timestamp'),
    level: text('level'),
    stage: text('stage'),
    message: text('message'),
    fields: record,
  };
}

/** Starts, follows and reads runs, on AWS or on this machine. */
export interface RunBackend {
  /**
   * The options that select this backend, for commands quoted in messages: `''` on AWS, `' --local'` locally
   * (`nightshift status RUN --local`).
   */
  readonly selector: string;
  /** Where runs are looked up, for messages: `stack Nightshift in us-east-1`, `the local servers (/repo/.nightshift)`. */
  where(): Promise<string>;
  /** Starts a run; with `wait`, follows it. Writes what it does through the io; resolves to the exit code. */
  start(request: StartRequest): Promise<number>;
  /** Follows a run to its end, writing each change; exit code 0 only when it SUCCEEDED. */
  watch(request: WatchRequest): Promise<number>;
  /** Resumes a FAILED, TIMED_OUT or ABORTED run; resolves to the exit code. */
  redrive(request: RedriveRequest): Promise<number>;
  /** The newest runs first. */
  runs(query: RunsQuery): Promise<RunListing>;
  /** One run; fails with RUN_NOT_FOUND saying where it looked. */
  status(runId: string): Promise<RunView>;
  /** Downloads the run's report files into `directory` (created); fails with NO_REPORT saying why there is none. */
  report(runId: string, directory: string): Promise<ReportFiles>;
  /** The run's rows in key order (fails with RUN_NOT_FOUND first when there is no such run). */
  predictions(runId: string, filter: { readonly keyPrefix?: string }): Promise<AsyncIterable<OutcomeRecord>>;
  /** The stage log lines of one run, oldest first (fails with RUN_NOT_FOUND first when there is no such run). */
  logs(runId: string): Promise<readonly StageLogLine[]>;
  /** Releases clients and stops any servers this backend started. */
  close(): Promise<void>;
}

/** The local backend also runs the whole pipeline over a local dataset (`demo`, `run --local`). */
export interface LocalRunBackend extends RunBackend {
  /** Runs the generated sample dataset end to end. */
  demo(request: { readonly keepServers: boolean }): Promise<number>;
  /** Runs a local folder of images or a local manifest (an absolute path) end to end. */
  runSource(request: { readonly source: string; readonly keepServers: boolean }): Promise<number>;
}

/** What the CLI gives the local backend. */
export interface LocalRunBackendOptions {
  readonly io: CliIo;
  readonly json: boolean;
  /** `--state-dir` as given (relative to `io.cwd`); else NIGHTSHIFT_HOME, else `.nightshift/` in `projectRoot`. */
  readonly stateDir?: string;
  readonly projectRoot: string;
  readonly clock: Clock;
  /** Waits between polls of `watch`. */
  readonly sleep: (ms: number) => Promise<void>;
}

/** The module the CLI imports on first use of `--local` (`pipeline/local/local-run-backend.ts`). */
export interface LocalRunBackendModule {
  createLocalRunBackend(options: LocalRunBackendOptions): LocalRunBackend;
}
