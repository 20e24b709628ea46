import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RunReportSchema } from '../../../stages/report/run-report.ts';
import { type CommandSpec, flag, stringOption } from '../command-line.ts';
import { formatCount, writeJson } from '../output.ts';

/** Where `report` writes when there is no `--out`: `./nightshift-reports/<runId>/`. */
export const DEFAULT_REPORT_DIR = 'nightshift-reports';

export const reportCommand: CommandSpec = {
  name: 'report',
  summary: "Download a run's report.json, predictions.csv and report.html",
  usage: 'report RUN [--out DIR] [--open] [options]',
  description: `The files come from reports/<run>/ in the pipeline bucket; they go to --out, or ./${DEFAULT_REPORT_DIR}/<run>/.`,
  arguments: [['RUN', 'the run id']],
  options: {
    out: {
      type: 'string',
      value: 'DIR',
      description: `directory to write the files to (default ./${DEFAULT_REPORT_DIR}/RUN)`,
    },
    open: {
      type: 'boolean',
      description: 'open report.html in the default browser (xdg-open / open) after downloading',
    },
  },
  positionals: { min: 1, max: 1 },
  examples: ['nightshift report nightly-2026-11-23 --open', 'nightshift report latest --local --out /tmp/demo-report'],
  async run(ctx, args) {
    const backend = await ctx.backend();
    const runId = await ctx.runId(backend, args.positionals[0] as string);
    const directory = resolve(ctx.io.cwd, stringOption(args, 'out') ?? join(DEFAULT_REPORT_DIR, runId));
    const files = await backend.report(runId, directory);
    const summary = await reportSummary(files.json);
    const opened = flag(args, 'open') ? await ctx.deps.openFile(files.html) : false;
    if (ctx.global.json) {
      writeJson(ctx.io, { runId, directory, files, opened, ...(summary ? { counts: summary.counts } : {}) });
      return 0;
    }
    const sizes = await Promise.all(Object.values(files).map(async (path) => [path, (await stat(path)).size] as const));
    ctx.io.stdout(`report of run ${ctx.paint.bold(runId)} in ${directory}\n`);
    const width = Math.max(...sizes.map(([path]) => path.length));
    for (const [path, size] of sizes) {
      ctx.io.stdout(`  ${path.padEnd(width)}  ${ctx.paint.dim(`${formatCount(size).padStart(9)} bytes`)}\n`);
    }
    if (summary) ctx.io.stdout(`${summary.line}\n`);
    if (flag(args, 'open') && !opened)
      ctx.io.stdout(`no browser opener found: open ${pathToFileURL(files.html).href}\n`);
    return 0;
  },
};

/** The headline of report.json; undefined (with no fuss) when the file is not the shape this CLI knows. */
async function reportSummary(path: string): Promise<{ line: string; counts: unknown } | undefined> {
  try {
    const report = RunReportSchema.parse(JSON.parse(await readFile(path, 'utf8')));
    const { counts, confidence, accuracy } = report;
    const parts = [
      `${formatCount(counts.items)} items`,
      `${formatCount(counts.predicted)} predicted`,
      `${formatCount(counts.rejected)} rejected`,
      ...(confidence.mean === null ? [] : [`mean confidence ${confidence.mean.toFixed(3)}`]),
      ...(accuracy ? [`accuracy ${(accuracy.rate * 100).toFixed(1)}% of ${formatCount(accuracy.withExpected)}`] : []),
    ];
    return { line: parts.join(' \u00b7 '), counts };
  } catch {
    return undefined;
  }
}
