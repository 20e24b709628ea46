import { formatDuration } from '../../../shared/format-duration.ts';
import type { RunRecord } from '../../../shared/records.ts';
import { describeCause } from '../../run-backend/failure-cause.ts';
import { UsageError } from '../../run-backend/failures.ts';
import type { RunAccuracy } from '../../run-backend/run-backend.ts';
import type { CommandSpec } from '../command-line.ts';
import { stringOption } from '../command-line.ts';
import { type CostEstimate, estimateRunCost } from '../cost-estimate.ts';
import {
  escapeControlCharacters,
  formatAccuracy,
  formatCount,
  formatTimestamp,
  formatUsd,
  type Painter,
  paintStatus,
  renderFields,
  writeJson,
} from '../output.ts';

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'Show one run from the runs table: counts, stage timings, report link and a cost estimate',
  usage: 'status RUN [--instance-price USD] [options]',
  description:
    'The cost is an ESTIMATE (docs/cost.md): GPU time x an approximate us-east-1 price for the instance type, plus\n' +
    'Lambda, Step Functions, DynamoDB and S3 from the item count. Exits 1 when the run FAILED.',
  arguments: [['RUN', 'the run id']],
  options: {
    'instance-price': {
      type: 'string',
      value: 'USD',
      description: 'Batch Transform price per instance-hour for the estimate (default: the built-in table)',
    },
  },
  positionals: { min: 1, max: 1 },
  examples: ['nightshift status nightly-2026-11-23', 'nightshift status latest --local --json'],
  async run(ctx, args) {
    const price = stringOption(args, 'instance-price');
    const instancePricePerHour = price === undefined ? undefined : Number(price);
    if (instancePricePerHour !== undefined && !(instancePricePerHour >= 0)) {
      throw new UsageError(`--instance-price must be a price in US$ per hour such as 1.41, got "${price}"`);
    }
    const backend = await ctx.backend();
    const {
      run,
      console: consoleUrl,
      accuracy,
      source,
      reportFile,
    } = await backend.status(await ctx.runId(backend, args.positionals[0] as string));
    const cost = estimateRunCost(run, {
      now: ctx.deps.clock.now(),
      ...(instancePricePerHour === undefined ? {} : { instancePricePerHour }),
    });
    if (ctx.global.json) {
      writeJson(ctx.io, {
        run,
        ...(accuracy === undefined ? {} : { accuracy }),
        cost,
        ...(consoleUrl ? { console: consoleUrl } : {}),
        ...(source ? { source } : {}),
        ...(reportFile ? { reportFile } : {}),
      });
    } else {
      ctx.io.stdout(
        renderRunStatus(run, cost, ctx.paint, {
          now: ctx.deps.clock.now(),
          ...(accuracy === undefined ? {} : { accuracy }),
          selector: backend.selector,
          ...(consoleUrl ? { console: consoleUrl } : {}),
          ...(source ? { source } : {}),
          ...(reportFile ? { reportFile } : {}),
        }),
      );
    }
    return run.status === 'FAILED' ? 1 : 0;
  },
};

/** A share as a whole percentage, `<1%` for a share that is small but not nothing. */
function formatShare(share: number): string {
  if (share > 0 && share < 0.01) return '<1%';
  return `${Math.round(share * 100)}%`;
}

/** The human view of one run. */
export function renderRunStatus(
  run: RunRecord,
  cost: CostEstimate,
  paint: Painter,
  options: {
    readonly now: Date;
    /** The backend's selector (`' --local'`), for the command the view suggests. */
    readonly selector: string;
    /** The execution's console page, where there is one. */
    readonly console?: string;
    /** Local runs: the folder or manifest given, and the report written on this machine. */
    readonly source?: string;
    readonly reportFile?: string;
    /** From the run's report: null when no item had expected text. */
    readonly accuracy?: RunAccuracy | null;
  },
): string {
  const end = run.finishedAt ? new Date(run.finishedAt) : options.now;
  const seconds = (end.getTime() - new Date(run.createdAt).getTime()) / 1000;
  const fields: [string, string][] = [
    ['run', paint.bold(run.runId)],
    ['status', paintStatus(paint, run.status)],
    ['dataset', escapeControlCharacters(options.source ? `${options.source} (${run.dataset})` : run.dataset)],
    ['created', formatTimestamp(run.createdAt)],
    [
      run.finishedAt ? 'finished' : 'running for',
      run.finishedAt ? `${formatTimestamp(run.finishedAt)} (${formatDuration(seconds)})` : formatDuration(seconds),
    ],
  ];
  const { counts } = run;
  if (counts) {
    const processed = counts.predicted + (counts.noText ?? 0) + counts.rejected;
    fields.push([
      'items',
      `${formatCount(counts.items)}${run.status === 'FAILED' && processed < counts.items ? ` (${formatCount(processed)} processed before it failed)` : ''}`,
    ]);
    fields.push(['predicted', formatCount(counts.predicted)]);
    if (counts.noText) fields.push(['no text', formatCount(counts.noText)]);
    const reasons = Object.entries(counts.rejectedByReason)
      .filter(([, n]) => n > 0)
      .sort(([, a], [, b]) => b - a)
      .map(([reason, n]) => `${reason} ${formatCount(n)}`);
    fields.push(['rejected', `${formatCount(counts.rejected)}${reasons.length ? ` (${reasons.join(', ')})` : ''}`]);
  }
  if (options.accuracy) fields.push(['accuracy', formatAccuracy(options.accuracy)]);
  const timings = Object.entries(run.timings ?? {});
  if (timings.length > 0) {
    fields.push([
      'stages',
      timings.map(([stage, timing]) => `${stage} ${formatDuration(timing.seconds)}`).join(' \u00b7 '),
    ]);
  }
  const { transform, preprocess } = run.settings;
  fields.push([
    'settings',
    `${transform.instanceCount} x ${transform.instanceType}, batch ${preprocess.batchSize}, ${preprocess.width}x${preprocess.height} ${preprocess.fit}`,
  ]);

  if (run.error) fields.push(['error', paint.red(`${run.error.error}: ${run.error.cause}`)]);
  if (run.report) fields.push(['report', options.reportFile ?? run.report.html]);
  if (run.error) {
    fields.push(['error', paint.red(escapeControlCharacters(`${run.error.error}: ${describeCause(run.error.cause)}`))]);
  }
  if (options.console) fields.push(['console', options.console]);
  fields.push(['cost', `~${formatUsd(cost.totalUsd)} (estimate), GPU ${formatShare(cost.gpuShare)}`]);
  const shown = cost.byService.filter((entry) => entry.usd > 0 || entry.service === 'SageMaker');
  const usdWidth = Math.max(...shown.map((entry) => formatUsd(entry.usd).length));
  for (const { service, usd } of shown) {
    const lines = cost.lines.filter((line) => line.service === service && (line.usd > 0 || service === 'SageMaker'));
    const detail =
      lines.length === 1
        ? `${lines[0]?.item}: ${lines[0]?.detail}`
        : lines.map((line) => `${line.item} ${formatUsd(line.usd)}`).join(' \u00b7 ');
    fields.push([`  ${service}`, `${formatUsd(usd).padStart(usdWidth)}  ${paint.dim(detail)}`]);
  }
  for (const note of cost.notes) fields.push(['  note', paint.dim(note)]);
  let text = renderFields(fields, paint);
  if (run.report) text += `\nDownload the report with: nightshift report ${run.runId}${options.selector} --open\n`;
  return text;
}
