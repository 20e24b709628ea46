import type { CliDeps } from '../../pipeline/cli/command-context.ts';
import type { CliIo } from '../../pipeline/cli/io.ts';
import { main } from '../../pipeline/cli/main.ts';

/** A {@link CliIo} that keeps what the CLI writes. */
export interface CapturedIo extends CliIo {
  stdoutText(): string;
  stderrText(): string;
}

export function captureIo(
  options: { env?: Record<string, string | undefined>; cwd?: string; isTTY?: boolean } = {},
): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    isTTY: options.isTTY ?? false,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    stdoutText: () => out.join(''),
    stderrText: () => err.join(''),
  };
}

/** A clock that only moves when slept on: `watch` tests run through hours of polling in no time. */
export class SteppingClock {
  readonly sleeps: number[] = [];
  private current: number;

  constructor(start: string | Date) {
    this.current = new Date(start).getTime();
  }

  now = (): Date => new Date(this.current);

  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.current += ms;
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command line in-process. */
export async function runCli(
  argv: readonly string[],
  options: { io?: CapturedIo; deps?: Partial<CliDeps> } = {},
): Promise<CliResult> {
  const io = options.io ?? captureIo();
  const code = await main(argv, io, options.deps);
  return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
}

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:NightshiftStateMachine`;

export function executionArn(name: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:execution:NightshiftStateMachine:${name}`;
}

export function mapRunArn(label: string, id: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:mapRun:NightshiftStateMachine/${label}:${id}`;
}

/** A DescribeStacks answer for a deployed Nightshift stack with these names. */
export function stackDescription(names: { bucket: string; runsTable: string; predictionsTable: string }) {
  return {
    Stacks: [
      {
        StackName: 'Nightshift',
        StackStatus: 'CREATE_COMPLETE' as const,
        CreationTime: new Date('2026-11-01T00:00:00Z'),
        Outputs: [
          { OutputKey: 'PipelineBucketName', OutputValue: names.bucket },
          { OutputKey: 'RunsTableName', OutputValue: names.runsTable },
          { OutputKey: 'PredictionsTableName', OutputValue: names.predictionsTable },
          { OutputKey: 'StateMachineArn', OutputValue: STATE_MACHINE_ARN },
          { OutputKey: 'ReportLocation', OutputValue: `s3://${names.bucket}/reports/` },
        ],
      },
    ],
  };
}
