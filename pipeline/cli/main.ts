/**
 * The `nightshift` command line. `bin/nightshift.mjs` calls {@link main} with the process's arguments and streams;
 * tests call it in-process with their own {@link CliIo} and {@link CliDeps}.
 *
 * Commands reach runs through the `RunBackend` port (pipeline/run-backend/run-backend.ts), which
 * `CommandContext` picks once from `--local`: the AWS backend here (`aws-run-backend.ts`), or the local runtime's
 * (`pipeline/local/local-run-backend.ts`), imported on first use by {@link loadLocalBackend}.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectionFailureOf, toNightshiftError } from '../../shared/aws/aws-errors.ts';
import { NightshiftError } from '../../shared/errors.ts';
import { systemClock } from '../../shared/ports.ts';
import { exitCodeOf, UsageError } from '../run-backend/failures.ts';
import type { LocalRunBackendModule } from '../run-backend/run-backend.ts';
import { type CliDeps, CommandContext } from './command-context.ts';
import {
  type CommandSpec,
  globalOptions,
  parseCommandArgs,
  renderCommandHelp,
  renderOverview,
  splitCommand,
} from './command-line.ts';
import { demoCommand } from './commands/demo.ts';
import { diffCommand } from './commands/diff.ts';
import { localCommand } from './commands/local.ts';
import { logsCommand } from './commands/logs.ts';
import { predictionsCommand } from './commands/predictions.ts';
import { preflightCommand } from './commands/preflight.ts';
import { redriveCommand } from './commands/redrive.ts';
import { reportCommand } from './commands/report.ts';
import { runLocalCommand } from './commands/run-local.ts';
import { runsCommand } from './commands/runs.ts';
import { startCommand } from './commands/start.ts';
import { statusCommand } from './commands/status.ts';
import { watchCommand } from './commands/watch.ts';
import { openWithDesktop } from './desktop-opener.ts';
import type { CliIo } from './io.ts';
import { painter } from './output.ts';

export type { CliIo } from './io.ts';
export { processIo } from './io.ts';
export type { CliDeps };

/** Every command, in the order `nightshift --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  startCommand,
  watchCommand,
  statusCommand,
  runsCommand,
  reportCommand,
  predictionsCommand,
  diffCommand,
  logsCommand,
  redriveCommand,
  demoCommand,
  runLocalCommand,
  localCommand,
  preflightCommand,
];

/** Exit codes: 0 success, 1 the run failed or the command could not be done, 2 usage error or input mistake. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export function defaultCliDeps(): CliDeps {
  return {
    createAwsClients: () => {
      throw new Error('the AWS clients are used before main() loaded them');
    },
    loadLocalBackend,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    clock: systemClock,
    openFile: (path) => openWithDesktop(path),
    projectRoot: fileURLToPath(new URL('../../', import.meta.url)),
  };
}

/**
 * The local backend's module, imported on first use: the local runtime pulls in aws-cdk-lib and the engine, which
 * the AWS commands never need. The literal specifier keeps the module type-checked against the port.
 */
export async function loadLocalBackend(): Promise<LocalRunBackendModule> {
  const module: LocalRunBackendModule = await import('../local/local-run-backend.ts');
  return module;
}

/** Runs one command line; resolves to the exit code and never throws. */
export async function main(argv: readonly string[], io: CliIo, overrides: Partial<CliDeps> = {}): Promise<number> {
  const deps: CliDeps = { ...defaultCliDeps(), ...overrides };
  // Known before parsing, so even a parse error honours them.
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  let command: CommandSpec | undefined;
  let ctx: CommandContext | undefined;
  try {
    if (argv.includes('--version') || argv.includes('-V')) {
      io.stdout(`nightshift ${await packageVersion(deps.projectRoot)} (node ${process.version})\n`);
      return EXIT.ok;
    }
    const { name, rest } = splitCommand(argv);
    if (name === undefined || name === 'help') {
      const topic =
        name === 'help' ? COMMANDS.find((c) => c.name === rest.find((arg) => !arg.startsWith('-'))) : undefined;
      const text = topic ? renderCommandHelp(topic) : renderOverview(COMMANDS);
      const asked = name === 'help' || rest.includes('--help') || rest.includes('-h');
      (asked ? io.stdout : io.stderr)(text);
      return asked ? EXIT.ok : EXIT.usage;
    }
    command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      throw new UsageError(`unknown command "${name}"; the commands are ${COMMANDS.map((c) => c.name).join(', ')}`);
    }
    const args = parseCommandArgs(command, rest);
    if (args.values.help) {
      io.stdout(renderCommandHelp(command));
      return EXIT.ok;
    }
    const global = globalOptions(args);
    // The AWS SDK takes seconds to import on a busy machine: only commands that may reach AWS wait for it.
    const awsDeps =
      overrides.createAwsClients || global.local || command.localOnly
        ? deps
        : { ...deps, createAwsClients: (await import('./aws-clients.ts')).createAwsClients };
    ctx = new CommandContext(io, global, awsDeps);
    return await command.run(ctx, args);
  } catch (thrown) {
    // Node's bare `connect ECONNREFUSED 127.0.0.1:PORT` never reaches the user: a connection failure that no layer
    // named is said in words, with the command.
    const error =
      typedError(thrown) === undefined && connectionFailureOf(thrown)
        ? toNightshiftError(thrown, `nightshift ${command?.name ?? ''}`.trim())
        : thrown;
    reportError(io, error, { verbose, json, command });
    return exitCodeOf(error);
  } finally {
    try {
      await ctx?.close();
    } catch (error) {
      if (verbose) io.stderr(`warning: cleaning up failed: ${(error as Error).message}\n`);
    }
  }
}

/** The version in the project's package.json: what `npm ci` installed is what runs. */
async function packageVersion(projectRoot: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

/**
 * An error of one of our typed families: the shared NightshiftError, or the local engine's own EngineError, which
 * keeps no import of shared/ (pipeline/local/engine/README.md), so the check is on the shape both have.
 */
export function typedError(
  error: unknown,
): { readonly kind: string; readonly code: string; toJSON(): Record<string, unknown> } | undefined {
  if (error instanceof NightshiftError) return error;
  const candidate = error as { kind?: unknown; code?: unknown; toJSON?: unknown } | null;
  return error instanceof Error &&
    typeof candidate?.kind === 'string' &&
    typeof candidate.code === 'string' &&
    typeof candidate.toJSON === 'function'
    ? (error as Error & { kind: string; code: string; toJSON(): Record<string, unknown> })
    : undefined;
}

/** One line saying what went wrong and what to do; the stack trace (and causes) only with --verbose. */
function reportError(
  io: CliIo,
  error: unknown,
  options: { readonly verbose: boolean; readonly json: boolean; readonly command: CommandSpec | undefined },
): void {
  const message = error instanceof Error ? error.message : String(error);
  // The caller's mistakes (usage, input, a run that cannot be redriven) say what to fix; a stack trace would not help.
  const typed = typedError(error);
  const expected = typed?.kind === 'caller';
  if (options.json) {
    const described = typed ? typed.toJSON() : { name: (error as Error)?.name ?? 'Error', message };
    io.stderr(`${JSON.stringify({ error: described })}\n`);
  } else {
    const paint = painter(io);
    const hint =
      error instanceof UsageError
        ? ` (see \`nightshift ${options.command ? `${options.command.name} ` : ''}--help\`)`
        : !expected && !options.verbose
          ? ' (run again with --verbose for the stack trace)'
          : '';
    io.stderr(`${paint.red('error:')} ${message.replace(/\s*\n\s*/g, ' ')}${hint}\n`);
  }
  if (options.verbose) {
    let current: unknown = error;
    for (let depth = 0; current instanceof Error && depth < 5; depth++) {
      io.stderr(`${depth === 0 ? '' : 'caused by: '}${current.stack ?? current.message}\n`);
      current = current.cause;
    }
  }
}
