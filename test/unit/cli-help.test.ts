import { describe, expect, it } from 'vitest';
import { parseCommandArgs, splitCommand } from '../../pipeline/cli/command-line.ts';
import { INPUT_FLAGS } from '../../pipeline/cli/input-flags.ts';
import { COMMANDS } from '../../pipeline/cli/main.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { runCli } from '../helpers/cli-harness.ts';

describe('nightshift --help', () => {
  it.each(COMMANDS.map((command) => [command.name]))(
    '`%s --help` prints its usage, options and exit codes and exits 0',
    async (name) => {
      const result = await runCli([name, '--help']);

      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: nightshift ${name}\\b`));
      expect(result.stdout).toContain('Global options:');
      expect(result.stdout).toContain('--json');
      expect(result.stdout).toContain('Exit codes: 0 success');
      expect(result.stderr).toBe('');
    },
  );

  it.each(COMMANDS.flatMap((command) => (command.examples ?? []).map((example) => [command.name, example] as const)))(
    '`%s` help example works as written: %s',
    (name, example) => {
      const words = (example.split(/\s*(?:&&|>|\|)\s*/)[0] ?? '').split(/\s+/).slice(1);
      const { name: parsedName, rest } = splitCommand(words);

      expect(parsedName).toBe(name);
      expect(() =>
        parseCommandArgs(COMMANDS.find((c) => c.name === name) as (typeof COMMANDS)[number], rest),
      ).not.toThrow();
      // A local example can only name a run that exists after `npm run demo`: the newest, `latest`.
      if (words.includes('--local')) expect(words).not.toContain('demo');
    },
  );

  it('prints the version from package.json with --version', async () => {
    const result = await runCli(['--version']);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^nightshift \d+\.\d+\.\d+ \(node v\d+/);
  });

  it('lists every command at the top level', async () => {
    const result = await runCli(['--help']);

    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${command.name}\\s`, 'm'));
  });

  it('shows a command help with `help COMMAND` and with -h', async () => {
    const viaHelp = await runCli(['help', 'redrive']);
    const viaShort = await runCli(['redrive', '-h']);

    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toContain('Usage: nightshift redrive RUN');
    expect(viaShort.stdout).toBe(viaHelp.stdout);
  });

  it('shows the start settings with the schema bounds, choices and defaults', async () => {
    const result = await runCli(['start', '--help']);

    expect(result.stdout).toMatch(/--batch-size N\s+images per Distributed Map batch \(1-200, default 200\)/);
    expect(result.stdout).toMatch(
      /--fit MODE\s+how the image fits width x height \(inside \| contain \| fill, default inside\)/,
    );
    expect(result.stdout).toMatch(/--instance-type TYPE\s+Batch Transform instance type \(default ml\.g5\.xlarge\)/);
  });

  it('offers a start option for every setting of the execution-input schema, each named once', () => {
    const fields = [
      ...Object.keys(PreprocessSettingsSchema.shape).map((field) => `preprocess.${field}`),
      ...Object.keys(TransformSettingsSchema.shape).map((field) => `transform.${field}`),
    ];

    expect(INPUT_FLAGS.map((input) => `${input.section}.${input.field}`)).toEqual(fields);
    expect(new Set(INPUT_FLAGS.map((input) => input.flag)).size).toBe(fields.length);
  });
});

describe('nightshift usage errors (exit 2)', () => {
  it('prints the overview to stderr and exits 2 without a command', async () => {
    const result = await runCli([]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: nightshift COMMAND');
  });

  it('names an unknown command and the known ones', async () => {
    const result = await runCli(['stats']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: unknown command "stats"; the commands are start, watch, status, runs, report, predictions, diff, logs, redrive, demo, run, local, preflight (see `nightshift --help`)\n',
    );
  });

  it('names an unknown option and points at the command help', async () => {
    const result = await runCli(['runs', '--colour']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: runs: unknown option --colour (see `nightshift runs --help`)\n');
  });

  it('says when an option lacks its value or takes none', async () => {
    const missing = await runCli(['runs', '--limit']);
    const dashed = await runCli(['runs', '--limit', '-5']);
    const extra = await runCli(['runs', '--local=yes']);

    expect([missing.code, dashed.code, extra.code]).toEqual([2, 2, 2]);
    expect(missing.stderr).toContain('runs: option --limit needs a value');
    expect(dashed.stderr).toContain('for one starting with "-" write --limit=VALUE');
    expect(extra.stderr).toContain('runs: option --local takes no value');
  });

  it('says which argument is missing', async () => {
    const result = await runCli(['status']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('status: missing argument; usage: nightshift status RUN');
  });

  it('rejects an option value out of range before touching anything', async () => {
    const result = await runCli(['runs', '--limit', '0']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--limit must be a whole number from 1 to 1000, got "0"');
  });

  it('rejects an unknown run status', async () => {
    const result = await runCli(['runs', '--status', 'DONE']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--status must be one of RUNNING, SUCCEEDED, FAILED, got "DONE"');
  });

  it('asks for --local on `run`', async () => {
    const result = await runCli(['run', './images']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('run: add --local');
  });

  it('reports a usage error as JSON on stderr with --json', async () => {
    const result = await runCli(['watch', '--json']);

    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toEqual({
      error: expect.objectContaining({ name: 'UsageError', code: 'USAGE', kind: 'caller' }),
    });
  });
});
