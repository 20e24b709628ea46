import { DEFAULT_MAX_CHANGES, diffRows, type RowAnswer, type RunDiff } from '../../../stages/report/run-diff.ts';
import { type CommandSpec, intOption } from '../command-line.ts';
import { formatCount, renderTable, writeJson } from '../output.ts';

/**
 * `nightshift diff RUN_A RUN_B`: the two runs' counts and accuracy side by side and the objects whose answer
 * changed. The comparison itself is {@link diffRows}, a function over two streams of rows that any RunBackend's
 * `predictions` gives, and the report stage computes it the same way.
 */
export const diffCommand: CommandSpec = {
  name: 'diff',
  summary: 'Compare two runs: counts and accuracy side by side, and the objects whose text changed',
  usage: 'diff RUN_A RUN_B [--limit N] [options]',
  description:
    "Reads both runs' rows once, in key order. An answer is the text read, NO_TEXT, or the rejection reason;\n" +
    'text is compared exactly (after trimming).',
  arguments: [
    ['RUN_A', 'the earlier run id'],
    ['RUN_B', 'the later run id'],
  ],
  options: {
    limit: {
      type: 'string',
      value: 'N',
      description: `changed objects to list; 0 = all (default ${DEFAULT_MAX_CHANGES})`,
    },
  },
  positionals: { min: 2, max: 2 },
  examples: ['nightshift diff nightly-2026-11-22 nightly-2026-11-23', 'nightshift diff demo-a demo-b --local --json'],
  async run(ctx, args) {
    const [before, after] = args.positionals as [string, string];
    const limit = intOption(args, 'limit', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: DEFAULT_MAX_CHANGES });
    const backend = await ctx.backend();
    // Each call fails with RUN_NOT_FOUND, saying where it looked, before any row is read.
    const beforeRows = await backend.predictions(before, {});
    const afterRows = await backend.predictions(after, {});
    const diff = await diffRows(
      { runId: before, rows: beforeRows },
      { runId: after, rows: afterRows },
      { maxChanges: limit === 0 ? Number.MAX_SAFE_INTEGER : limit },
    );
    if (ctx.global.json) {
      writeJson(ctx.io, diff);
      return 0;
    }
    ctx.io.stdout(renderDiff(diff));
    return 0;
  },
};

/** The diff as text: a side-by-side table, then the changed objects. */
export function renderDiff(diff: RunDiff): string {
  const { before, after } = diff;
  const accuracy = (value: number | null) => (value === null ? '-' : `${(value * 100).toFixed(1)}%`);
  const rows: string[][] = [
    ['items', formatCount(before.items), formatCount(after.items)],
    ['predicted', formatCount(before.predicted), formatCount(after.predicted)],
    ['no text', formatCount(before.noText), formatCount(after.noText)],
    ['rejected', formatCount(before.rejected), formatCount(after.rejected)],
    ['accuracy', accuracy(before.accuracy), accuracy(after.accuracy)],
  ];
  let text = renderTable(
    [{ header: '' }, { header: before.runId, align: 'right' }, { header: after.runId, align: 'right' }],
    rows,
  );
  text +=
    `\n${formatCount(diff.changed)} of ${formatCount(diff.compared)} objects in both runs changed answer` +
    `; ${formatCount(diff.onlyBefore)} only in ${before.runId}, ${formatCount(diff.onlyAfter)} only in ${after.runId}\n`;
  if (diff.changes.length > 0) {
    const answer = (value: RowAnswer) =>
      value.outcome === 'PREDICTED' ? (value.text ?? '') : (value.reason ?? value.outcome);
    text += `\n${renderTable(
      [
        { header: 'KEY', maxWidth: 60 },
        { header: 'BEFORE', maxWidth: 40 },
        { header: 'AFTER', maxWidth: 40 },
      ],
      diff.changes.map((change) => [change.key, answer(change.before), answer(change.after)]),
    )}`;
    if (diff.changes.length < diff.changed) {
      text += `(${formatCount(diff.changes.length)} of ${formatCount(diff.changed)} listed; --limit 0 lists all)\n`;
    }
  }
  return text;
}
