/**
 * Which rows the report page shows image by image. A run may have a million rows; the page embeds a bounded,
 * useful selection, chosen in one streaming pass with memory bounded by the caps, never by the number of rows:
 * - mismatches (text differs from the expected text), rejections and NO_TEXT rows, each up to its cap;
 * - the rows with the lowest confidence;
 * - a random sample of all rows, seeded by the run id so the same run always shows the same rows.
 * Where a category holds more rows than its cap, a seeded reservoir sample keeps a fair share of it. Every row,
 * shown or not, is in predictions.csv.
 */
import { createHash } from 'node:crypto';
import type { OutcomeRecord } from '../../shared/records.ts';

/** How many rows of each kind the page embeds at most; a row in several kinds is embedded once. */
export const EXPLORER_CAPS = {
  mismatch: 200,
  rejected: 100,
  noText: 100,
  lowestConfidence: 100,
  sample: 100,
} as const;

/** At most this many rows are embedded in the page. */
export const EXPLORER_MAX_ROWS = Object.values(EXPLORER_CAPS).reduce((sum, cap) => sum + cap, 0);

/** Why a row is on the page. */
export type ExplorerReason = 'mismatch' | 'rejected' | 'no-text' | 'lowest-confidence' | 'sample';

/** Lines (and their boxes) kept per row; a page of text has far fewer. */
const MAX_LINES = 60;
/** Characters of text kept per field; the CSV has the rest. */
const MAX_TEXT = 400;

/** One line the model read, its box in original-image pixels. */
export interface ExplorerLine {
  readonly text: string;
  readonly confidence: number;
  readonly box?: readonly (readonly [number, number])[];
}

/** One row as the page shows it. */
export interface ExplorerRow {
  readonly key: string;
  readonly bucket?: string;
  readonly outcome: OutcomeRecord['outcome'];
  readonly text?: string;
  readonly expected?: string;
  readonly match?: boolean;
  readonly confidence?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly stage?: string;
  /** The original image's size: the space of the boxes. */
  readonly image?: { readonly width: number; readonly height: number };
  readonly lines?: readonly ExplorerLine[];
  readonly why: readonly ExplorerReason[];
  /** The transform input part the row came from (rejections have none): where its thumbnail is. */
  readonly part?: string;
  /** A `data:image/webp;base64,...` URI, filled in after the selection from the run's thumbnails. */
  thumbnail?: string;
}

/** What the page embeds: the rows, and of how many. */
export interface ExplorerData {
  readonly rows: ExplorerRow[];
  readonly totalRows: number;
  readonly caps: typeof EXPLORER_CAPS;
  readonly totals: Readonly<Record<ExplorerReason, number>>;
}

/** A deterministic generator (mulberry32) seeded from text: the same run always samples the same rows. */
export function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed, 'utf8').digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reservoir sampling (Algorithm R): a uniform sample of `capacity` from a stream of unknown length. */
class Reservoir {
  readonly kept: OutcomeRecord[] = [];
  seen = 0;

  constructor(
    private readonly capacity: number,
    private readonly random: () => number,
  ) {}

  offer(row: OutcomeRecord): void {
    this.seen += 1;
    if (this.kept.length < this.capacity) {
      this.kept.push(row);
      return;
    }
    const slot = Math.floor(this.random() * this.seen);
    if (slot < this.capacity) this.kept[slot] = row;
  }
}

/** Collects the selection as rows stream by; feed it every row of the run once, then call {@link finish}. */
export class ExplorerSelection {
  private readonly random: () => number;
  private readonly mismatch: Reservoir;
  private readonly rejected: Reservoir;
  private readonly noText: Reservoir;
  private readonly sample: Reservoir;
  // Ascending by confidence, at most EXPLORER_CAPS.lowestConfidence long.
  private readonly lowest: { confidence: number; row: OutcomeRecord }[] = [];
  private predicted = 0;
  private rows = 0;

  constructor(runId: string) {
    this.random = seededRandom(runId);
    this.mismatch = new Reservoir(EXPLORER_CAPS.mismatch, this.random);
    this.rejected = new Reservoir(EXPLORER_CAPS.rejected, this.random);
    this.noText = new Reservoir(EXPLORER_CAPS.noText, this.random);
    this.sample = new Reservoir(EXPLORER_CAPS.sample, this.random);
  }

  add(row: OutcomeRecord): void {
    this.rows += 1;
    this.sample.offer(row);
    if (row.outcome === 'REJECTED') this.rejected.offer(row);
    if (row.outcome === 'NO_TEXT') this.noText.offer(row);
    if (row.outcome !== 'REJECTED' && row.match === false) this.mismatch.offer(row);
    if (row.outcome === 'PREDICTED') {
      this.predicted += 1;
      this.offerLowest(row.confidence, row);
    }
  }

  private offerLowest(confidence: number, row: OutcomeRecord): void {
    const cap = EXPLORER_CAPS.lowestConfidence;
    const last = this.lowest[this.lowest.length - 1];
    if (this.lowest.length >= cap && last !== undefined && confidence >= last.confidence) return;
    let at = this.lowest.length;
    while (at > 0 && (this.lowest[at - 1]?.confidence ?? 0) > confidence) at -= 1;
    this.lowest.splice(at, 0, { confidence, row });
    if (this.lowest.length > cap) this.lowest.pop();
  }

  /** The selected rows in key order, each once with every reason it was chosen for. */
  finish(): ExplorerData {
    const byKey = new Map<string, { row: OutcomeRecord; why: Set<ExplorerReason> }>();
    const mark = (rows: readonly OutcomeRecord[], why: ExplorerReason) => {
      for (const row of rows) {
        const entry = byKey.get(row.key) ?? { row, why: new Set<ExplorerReason>() };
        entry.why.add(why);
        byKey.set(row.key, entry);
      }
    };
    mark(this.mismatch.kept, 'mismatch');
    mark(this.rejected.kept, 'rejected');
    mark(this.noText.kept, 'no-text');
    mark(
      this.lowest.map((entry) => entry.row),
      'lowest-confidence',
    );
    mark(this.sample.kept, 'sample');
    const rows = [...byKey.values()]
      .sort((a, b) => (a.row.key < b.row.key ? -1 : a.row.key > b.row.key ? 1 : 0))
      .map(({ row, why }) => toExplorerRow(row, [...why]));
    return {
      rows,
      totalRows: this.rows,
      caps: EXPLORER_CAPS,
      totals: {
        mismatch: this.mismatch.seen,
        rejected: this.rejected.seen,
        'no-text': this.noText.seen,
        'lowest-confidence': this.predicted,
        sample: this.rows,
      },
    };
  }
}

function clip(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

function toExplorerRow(row: OutcomeRecord, why: ExplorerReason[]): ExplorerRow {
  const base = { key: row.key, ...(row.bucket === undefined ? {} : { bucket: row.bucket }), outcome: row.outcome, why };
  if (row.outcome === 'REJECTED') {
    return { ...base, reason: row.reason, message: clip(row.message) ?? '', stage: row.stage };
  }
  const expected = clip(row.expected);
  const common = {
    ...base,
    part: row.part,
    ...(expected === undefined ? {} : { expected }),
    ...(row.match === undefined ? {} : { match: row.match }),
    ...(row.image === undefined ? {} : { image: row.image }),
  };
  if (row.outcome === 'NO_TEXT') return common;
  const text = clip(row.text ?? row.label);
  return {
    ...common,
    ...(text === undefined ? {} : { text }),
    confidence: row.confidence,
    ...(row.lines === undefined
      ? {}
      : {
          lines: row.lines.slice(0, MAX_LINES).map((line) => ({
            text: clip(line.text) ?? '',
            confidence: line.confidence,
            ...(line.box === undefined ? {} : { box: line.box }),
          })),
        }),
  };
}
