import { CONFIDENCE_BUCKETS, type PartStats } from '../../shared/records.ts';

/** The aggregate statistics of a run: the sum of its parts' {@link PartStats}. */
export interface RunStatistics {
  /** Parts merged. */
  readonly parts: number;
  /** Predictions the confidence figures cover. */
  readonly predicted: number;
  readonly confidenceHistogram: readonly number[];
  readonly confidenceSum: number;
  readonly withExpected: number;
  readonly matches: number;
  /** Distinct `name@version` (or whatever the aggregate names them), sorted. */
  readonly models: readonly string[];
}

/** Sums the statistics of every part; an empty list gives zeros. */
export function mergePartStats(parts: Iterable<PartStats>): RunStatistics {
  const histogram = new Array<number>(CONFIDENCE_BUCKETS).fill(0);
  const models = new Set<string>();
  let count = 0;
  let predicted = 0;
  let confidenceSum = 0;
  let withExpected = 0;
  let matches = 0;
  for (const part of parts) {
    count += 1;
    predicted += part.predicted;
    confidenceSum += part.confidenceSum;
    withExpected += part.withExpected;
    matches += part.matches;
    part.confidenceHistogram.forEach((n, bucket) => {
      histogram[bucket] = (histogram[bucket] ?? 0) + n;
    });
    for (const model of part.models) models.add(model);
  }
  return {
    parts: count,
    predicted,
    confidenceHistogram: histogram,
    confidenceSum,
    withExpected,
    matches,
    models: [...models].sort(),
  };
}
