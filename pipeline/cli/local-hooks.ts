/**
 * The commands the local runtime implements (`pipeline/local/cli-commands.ts`, written with the local-runtime
 * issue). The CLI registers them and imports that module lazily, so the CLI works, and says so, before it exists.
 */
import type { ExecutionInput } from '../../shared/execution-input.ts';
import { CliFailure } from './cli-errors.ts';
import type { CliIo } from './io.ts';

/** Fields every hook receives. `stateDir` is the resolved `--state-dir` / `NIGHTSHIFT_HOME` / `.nightshift`. */
interface HookArgs {
  readonly json: boolean;
  readonly stateDir: string;
}

/**
 * What the CLI calls in `pipeline/local/cli-commands.ts`. Each returns the exit code (0 success, 1 the run failed)
 * and writes only through `io`. Every function is optional: a missing one makes its command say "not available yet".
 */
export interface LocalHooks {
  /** `nightshift demo [--keep-servers]` */
  demoCommand?(args: HookArgs & { readonly keepServers: boolean }, io: CliIo): Promise<number>;
  /** `nightshift run --local <folder|manifest> [--keep-servers]`; `source` is resolved against the working directory. */
  runLocalCommand?(
    args: HookArgs & { readonly source: string; readonly keepServers: boolean },
    io: CliIo,
  ): Promise<number>;
  /** `nightshift start --local ...`: `input` is already validated by `parseExecutionInput`; `name` is the run id. */
  startLocal?(
    args: HookArgs & {
      readonly input: ExecutionInput;
      readonly name: string;
      readonly wait: boolean;
      readonly keepServers: boolean;
    },
    io: CliIo,
  ): Promise<number>;
  /** `nightshift watch --local RUN [--timeout D]` */
  watchLocal?(args: HookArgs & { readonly runId: string; readonly timeoutMs: number }, io: CliIo): Promise<number>;
  /** `nightshift redrive --local RUN [--wait]` */
  redriveLocal?(args: HookArgs & { readonly runId: string; readonly wait: boolean }, io: CliIo): Promise<number>;
}

export type LocalHookName = keyof LocalHooks;

/**
 * Imports `pipeline/local/cli-commands.ts` on first use: the local runtime pulls in aws-cdk-lib and the engine,
 * which the AWS commands never need. The literal specifier keeps the module type-checked against {@link LocalHooks}.
 */
export async function importLocalHooks(): Promise<LocalHooks | undefined> {
  const hooks: LocalHooks = await import('../local/cli-commands.ts');
  return hooks;
}

/** Runs one hook, or fails with NOT_AVAILABLE naming the command when the runtime does not provide it yet. */
export async function callLocalHook<K extends LocalHookName>(
  load: () => Promise<LocalHooks | undefined>,
  name: K,
  commandLine: string,
  args: Parameters<NonNullable<LocalHooks[K]>>[0],
  io: CliIo,
): Promise<number> {
  const hooks = await load();
  const hook = hooks?.[name] as ((args: unknown, io: CliIo) => Promise<number>) | undefined;
  if (typeof hook !== 'function') {
    throw new CliFailure(
      'NOT_AVAILABLE',
      `\`nightshift ${commandLine}\` is not available yet: it arrives with the local runtime (pipeline/local/cli-commands.ts ` +
        `exporting ${name}); until then try the read commands with --local, or run the tests with \`npm test\``,
    );
  }
  return hook(args, io);
}
