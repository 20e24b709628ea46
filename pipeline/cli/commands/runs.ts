import { formatDuration } from '../../../shared/format-duration.ts';
import { RUN_STATUSES, type RunStatus } from '../../../shared/records.ts';
import { UsageError } from '../../run-backend/failures.ts';
import { type CommandSpec, intOption, stringOption } from '../command-line.ts';
import { formatCount, formatTimestamp, paintStatus, renderTable, writeJson } from '../output.ts';

export const runsCommand: CommandSpec = {
  name: 'runs',
  summary: 'List runs, newest first, from the runs table',
  usage: 'runs [--limit N] [--status RUNNING|SUCCEEDED|FAILED] [options]',
  options: {
    limit: { type: 'string', value: 'N', description: 'how many runs (1-1000, default 20)' },
    status: { type: 'string', value: 'STATUS', description: `only runs with this status: ${RUN_STATUSES.join(', ')}` },
  },
  positionals: { min: 0, max: 0 },
  examples: ['nightshift runs', 'nightshift runs --status FAILED --limit 5', 'nightshift runs --local --json'],
  async run(ctx, args) {
    const limit = intOption(args, 'limit', { min: 1, max: 1000, fallback: 20 });
    const statusArg = stringOption(args, 'status')?.toUpperCase();
    if (statusArg !== undefined && !(RUN_STATUSES as readonly string[]).includes(statusArg)) {
      throw new UsageError(`--status must be one of ${RUN_STATUSES.join(', ')}, got "${stringOption(args, 'status')}"`);
    }
    const backend = await ctx.backend();
    const {
      runs,
      skipped,
      runsTable,
      accuracy = {},
    } = await backend.runs({
      limit,
      ...(statusArg ? { status: statusArg as RunStatus } : {}),
    });
    if (skipped > 0) ctx.io.stderr(`warning: skipped ${skipped} rows of ${runsTable} that are not run records\n`);
    if (ctx.global.json) {
      writeJson(
        ctx.io,
        runs.map((run) => (accuracy[run.runId] === undefined ? run : { ...run, accuracy: accuracy[run.runId] })),
      );
      return 0;
    }
    if (runs.length === 0) {
      ctx.io.stdout(`no ${statusArg ? `${statusArg} ` : ''}runs in ${await backend.where()}\n`);
      return 0;
    }
    const now = ctx.deps.clock.now();
    const rows = runs.map((run) => {
      const end = run.finishedAt ? new Date(run.finishedAt) : now;
      return [
        run.runId,
        run.status,
        formatTimestamp(run.createdAt),
        formatDuration((end.getTime() - new Date(run.createdAt).getTime()) / 1000),
        run.counts ? formatCount(run.counts.items) : '-',
        run.counts ? formatCount(run.counts.predicted) : '-',
        // Its own column, so ITEMS = PREDICTED + NO TEXT + REJECTED reads off the row.
        run.counts ? formatCount(run.counts.noText ?? 0) : '-',
        run.counts ? formatCount(run.counts.rejected) : '-',
        formatRate(accuracy[run.runId]),
        run.dataset,
      ];
    });
    ctx.io.stdout(
      renderTable(
        [
          { header: 'RUN' },
          { header: 'STATUS' },
          { header: 'CREATED' },
          { header: 'DURATION', align: 'right' },
          { header: 'ITEMS', align: 'right' },
          { header: 'PREDICTED', align: 'right' },
          { header: 'NO TEXT', align: 'right' },
          { header: 'REJECTED', align: 'right' },
          { header: 'ACCURACY', align: 'right' },
          { header: 'DATASET', maxWidth: 60 },
        ],
        rows,
        (column, padded, raw) => (column === 1 ? padded.replace(raw, paintStatus(ctx.paint, raw)) : padded),
      ),
    );
    return 0;
  },
};

/** `96.0%`, or `-` for a run without a report or without expected text. */
function formatRate(accuracy: { readonly rate: number } | null | undefined): string {
  return accuracy ? `${(accuracy.rate * 100).toFixed(1)}%` : '-';
}
