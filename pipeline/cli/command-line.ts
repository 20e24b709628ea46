/** Command specs, argument parsing (node:util parseArgs) and help text. */
import { parseArgs } from 'node:util';
import { UsageError } from '../run-backend/failures.ts';
import type { CommandContext, GlobalOptions } from './command-context.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder in help (`N`, `DIR`). */
  readonly value?: string;
  readonly description: string;
}
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** One `nightshift` command: its help, its options and what it does. Returns the exit code. */
export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** After `nightshift `, e.g. `status RUN [options]`. */
  readonly usage: string;
  readonly description?: string;
  readonly arguments?: readonly (readonly [string, string])[];
  readonly options: OptionSpecs;
  readonly positionals: { readonly min: number; readonly max: number };
  readonly examples?: readonly string[];
  /** Runs only on this machine (`demo`, `run`): never needs the AWS SDK. */
  readonly localOnly?: boolean;
  run(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS = {
  stack: {
    type: 'string',
    value: 'NAME',
    description: 'CloudFormation stack whose outputs name the bucket, tables and state machine (default Nightshift)',
  },
  region: { type: 'string', value: 'REGION', description: 'AWS region (default: AWS_REGION, then the profile)' },
  profile: { type: 'string', value: 'NAME', description: 'AWS profile from ~/.aws/config (default: AWS_PROFILE)' },
  local: { type: 'boolean', description: 'use the local runtime and its S3/DynamoDB servers instead of AWS' },
  'state-dir': {
    type: 'string',
    value: 'DIR',
    description: 'the local runtime state directory (default: NIGHTSHIFT_HOME, then .nightshift/ in the project)',
  },
  json: { type: 'boolean', description: 'print JSON for scripts instead of tables' },
  verbose: { type: 'boolean', description: 'print stack traces with errors' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const satisfies OptionSpecs;

export const DEFAULT_STACK = 'Nightshift';

/** Finds the command word: the first argument that is neither an option nor the value of a global option. */
export function splitCommand(argv: readonly string[]): { name?: string; rest: string[] } {
  const takesValue = new Set(
    Object.entries(GLOBAL_OPTIONS)
      .filter(([, spec]) => spec.type === 'string')
      .map(([name]) => `--${name}`),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (takesValue.has(arg)) {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return { name: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: [...argv] };
}

/** Parses a command's arguments strictly: unknown options and extra or missing positionals are usage errors. */
export function parseCommandArgs(command: CommandSpec, rest: readonly string[]): ParsedArgs {
  const options: OptionSpecs = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          { type: spec.type, ...(spec.short ? { short: spec.short } : {}) },
        ]),
      ),
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (error) {
    throw new UsageError(`${command.name}: ${describeParseError(error)}`, { cause: error });
  }
  if (parsed.values.help) return parsed;
  const { min, max } = command.positionals;
  if (parsed.positionals.length < min) {
    throw new UsageError(`${command.name}: missing argument; usage: nightshift ${command.usage}`);
  }
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals.slice(max).map((p) => `"${p}"`);
    throw new UsageError(
      `${command.name}: unexpected argument ${extra.join(', ')}; usage: nightshift ${command.usage}`,
    );
  }
  return parsed;
}

function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const option = /'(-{1,2}[^' ]+)/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option ${option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    if (/ambiguous/i.test(message ?? ''))
      return `option ${option} needs a value; for one starting with "-" write ${option}=VALUE`;
    if (/argument missing/i.test(message ?? '')) return `option ${option} needs a value`;
    return `option ${option} takes no value`;
  }
  return (message ?? String(error)).split('\n')[0] ?? 'invalid arguments';
}

export function globalOptions(args: ParsedArgs): GlobalOptions {
  const region = stringOption(args, 'region');
  const profile = stringOption(args, 'profile');
  const stateDir = stringOption(args, 'state-dir');
  return {
    stack: stringOption(args, 'stack') ?? DEFAULT_STACK,
    ...(region ? { region } : {}),
    ...(profile ? { profile } : {}),
    ...(stateDir ? { stateDir } : {}),
    local: flag(args, 'local'),
    json: flag(args, 'json'),
    verbose: flag(args, 'verbose'),
  };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** An integer option within bounds, or `fallback` when absent. */
export function intOption(
  args: ParsedArgs,
  name: string,
  bounds: { readonly min: number; readonly max: number; readonly fallback: number },
): number {
  const raw = stringOption(args, name);
  if (raw === undefined) return bounds.fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new UsageError(`--${name} must be a whole number from ${bounds.min} to ${bounds.max}, got "${raw}"`);
  }
  return value;
}

/** A duration option such as `90s`, `30m`, `2h` or plain seconds, in milliseconds. */
export function durationOption(args: ParsedArgs, name: string, fallbackMs: number): number {
  const raw = stringOption(args, name);
  if (raw === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(raw.trim());
  const amount = Number(match?.[1]);
  if (!match || !(amount > 0))
    throw new UsageError(`--${name} must be a duration such as 90s, 30m or 2h, got "${raw}"`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return amount * unit;
}

/** `nightshift COMMAND --help` */
export function renderCommandHelp(command: CommandSpec): string {
  const lines = [`Usage: nightshift ${command.usage}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  if (command.arguments?.length) {
    lines.push('', 'Arguments:', ...alignRows(command.arguments));
  }
  const own = Object.entries(command.options);
  if (own.length > 0)
    lines.push('', 'Options:', ...alignRows(own.map(([name, spec]) => [optionLabel(name, spec), spec.description])));
  lines.push(
    '',
    'Global options:',
    ...alignRows(Object.entries(GLOBAL_OPTIONS).map(([name, spec]) => [optionLabel(name, spec), spec.description])),
  );
  if (command.examples?.length) lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`));
  lines.push('', EXIT_CODES_HELP);
  return `${lines.join('\n')}\n`;
}

export const EXIT_CODES_HELP =
  'Exit codes: 0 success, 1 the run failed or the command could not be done (the message says why), 2 usage error.';

/** `nightshift --help` */
export function renderOverview(commands: readonly CommandSpec[]): string {
  const lines = [
    'Usage: nightshift COMMAND [options]',
    '',
    'Start, follow and inspect Nightshift batch-inference runs on AWS, or locally with --local.',
    '',
    'Commands:',
    ...alignRows(commands.map((command) => [command.name, command.summary])),
    '',
    'Global options:',
    ...alignRows(Object.entries(GLOBAL_OPTIONS).map(([name, spec]) => [optionLabel(name, spec), spec.description])),
    '',
    "Run `nightshift COMMAND --help` for a command's options; `nightshift --version` prints the version.",
    EXIT_CODES_HELP,
  ];
  return `${lines.join('\n')}\n`;
}

function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

function alignRows(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}
