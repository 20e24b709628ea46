/**
 * Two runs compared row by row: counts and accuracy side by side, and the objects whose text changed. Both runs'
 * rows are read once, in key order, and joined as they stream (a merge join), so memory is bounded by
 * `maxChanges`, not by the runs' sizes. The report stage uses it against the previous run of the same dataset;
 * `nightshift diff` against any two runs, through whichever PredictionStore its backend has.
 */
import type { PredictionStore } from '../../shared/ports.ts';
import type { OutcomeRecord } from '../../shared/records.ts';

/** One run's side of the comparison, counted from its rows. */
export interface RunSide {
  readonly runId: string;
  readonly items: number;
  readonly predicted: number;
  readonly noText: number;
  readonly rejected: number;
  readonly withExpected: number;
  readonly matches: number;
  /** matches / withExpected, or null when no row had expected text. */
  readonly accuracy: number | null;
}

/** What one object got in one run: the text read, nothing (NO_TEXT), or the rejection reason. */
export interface RowAnswer {
  readonly outcome: OutcomeRecord['outcome'];
  readonly text?: string;
  readonly reason?: string;
}

/** An object whose answer differs between the runs. */
export interface TextChange {
  readonly key: string;
  readonly before: RowAnswer;
  readonly after: RowAnswer;
  readonly expected?: string;
}

export interface RunDiff {
  readonly before: RunSide;
  readonly after: RunSide;
  /** Objects with a row in both runs. */
  readonly compared: number;
  /** Of those, how many changed answer. */
  readonly changed: number;
  readonly onlyBefore: number;
  readonly onlyAfter: number;
  /** The first `maxChanges` changes in key order. */
  readonly changes: readonly TextChange[];
}

/** Changes a diff lists at most by default; the count covers all. */
export const DEFAULT_MAX_CHANGES = 100;

class SideCounter {
  items = 0;
  predicted = 0;
  noText = 0;
  rejected = 0;
  withExpected = 0;
  matches = 0;

  constructor(private readonly runId: string) {}

  add(row: OutcomeRecord): void {
    this.items += 1;
    if (row.outcome === 'PREDICTED') this.predicted += 1;
    else if (row.outcome === 'NO_TEXT') this.noText += 1;
    else this.rejected += 1;
    if (row.outcome !== 'REJECTED' && row.match !== undefined) {
      this.withExpected += 1;
      if (row.match) this.matches += 1;
    }
  }

  side(): RunSide {
    const { runId, items, predicted, noText, rejected, withExpected, matches } = this;
    const accuracy = withExpected > 0 ? Math.round((matches / withExpected) * 10_000) / 10_000 : null;
    return { runId, items, predicted, noText, rejected, withExpected, matches, accuracy };
  }
}

/** The answer of a row, as compared: text is compared exactly, after trimming. */
export function answerOf(row: OutcomeRecord): RowAnswer {
  if (row.outcome === 'REJECTED') return { outcome: row.outcome, reason: row.reason };
  if (row.outcome === 'NO_TEXT') return { outcome: row.outcome };
  return { outcome: row.outcome, text: (row.text ?? row.label ?? '').trim() };
}

function sameAnswer(a: RowAnswer, b: RowAnswer): boolean {
  return a.outcome === b.outcome && a.text === b.text && a.reason === b.reason;
}

/** DynamoDB orders string sort keys by their UTF-8 bytes; JavaScript's `<` compares UTF-16 units. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Compares the rows of `beforeRunId` with those of `afterRunId`, read from a PredictionStore. */
export function diffRuns(
  predictions: Pick<PredictionStore, 'list'>,
  beforeRunId: string,
  afterRunId: string,
  options: { readonly maxChanges?: number } = {},
): Promise<RunDiff> {
  return diffRows(
    { runId: beforeRunId, rows: predictions.list(beforeRunId) },
    { runId: afterRunId, rows: predictions.list(afterRunId) },
    options,
  );
}

/** One run's rows, in key order (as every PredictionStore and RunBackend lists them). */
export interface RunRows {
  readonly runId: string;
  readonly rows: AsyncIterable<OutcomeRecord>;
}

/** Compares two runs' rows, each streamed once in key order. */
export async function diffRows(
  beforeRun: RunRows,
  afterRun: RunRows,
  options: { readonly maxChanges?: number } = {},
): Promise<RunDiff> {
  const maxChanges = options.maxChanges ?? DEFAULT_MAX_CHANGES;
  const before = beforeRun.rows[Symbol.asyncIterator]();
  const after = afterRun.rows[Symbol.asyncIterator]();
  const beforeSide = new SideCounter(beforeRun.runId);
  const afterSide = new SideCounter(afterRun.runId);
  const changes: TextChange[] = [];
  let compared = 0;
  let changed = 0;
  let onlyBefore = 0;
  let onlyAfter = 0;

  let a = await before.next();
  let b = await after.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
    if (order < 0 && !a.done) {
      beforeSide.add(a.value);
      onlyBefore += 1;
      a = await before.next();
      continue;
    }
    if (order > 0 && !b.done) {
      afterSide.add(b.value);
      onlyAfter += 1;
      b = await after.next();
      continue;
    }
    if (a.done || b.done) break;
    const rowBefore = a.value;
    const rowAfter = b.value;
    beforeSide.add(rowBefore);
    afterSide.add(rowAfter);
    compared += 1;
    const answerBefore = answerOf(rowBefore);
    const answerAfter = answerOf(rowAfter);
    if (!sameAnswer(answerBefore, answerAfter)) {
      changed += 1;
      const expected = rowAfter.outcome === 'REJECTED' ? undefined : rowAfter.expected;
      if (changes.length < maxChanges) {
        changes.push({
          key: rowAfter.key,
          before: answerBefore,
          after: answerAfter,
          ...(expected === undefined ? {} : { expected }),
        });
      }
    }
    a = await before.next();
    b = await after.next();
  }
  return {
    before: beforeSide.side(),
    after: afterSide.side(),
    compared,
    changed,
    onlyBefore,
    onlyAfter,
    changes,
  };
}
