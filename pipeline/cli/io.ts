/**
 * What a CLI command may touch of the outside world. The bin passes the process's ({@link processIo}); tests and
 * the local runtime's commands (`pipeline/local/cli-commands.ts`) receive one and write through it.
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

/** The real process's streams, environment and working directory. */
export function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}
