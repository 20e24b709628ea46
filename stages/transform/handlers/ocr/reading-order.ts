import { horizontalStart, type Quad, verticalExtent } from './quads.ts';

/** A column holds at least this many boxes; fewer side by side are cells of a row (a price beside an item). */
const MIN_COLUMN_BOXES = 3;

export interface PlacedText {
  readonly text: string;
  readonly confidence: number;
  readonly quad: Quad;
}

/** Lines in reading order and the text they make. */
export interface ArrangedText<T extends PlacedText> {
  /** Rows top to bottom, each row left to right. */
  readonly lines: T[];
  /** Boxes on one row joined with a space, rows joined with a newline. */
  readonly text: string;
}

/**
 * Puts detected lines in reading order for left-to-right, top-to-bottom scripts: columns left to right (see
 * `splitColumns`), and within a column, rows top to bottom. Boxes whose vertical extents
 * overlap by more than half the smaller height share a row (a line the detector split at a wide gap, or table
 * cells side by side); rows go top to bottom and boxes within a row left to right. Unlike PaddleOCR's fixed
 * 10-pixel tolerance in `sorted_boxes`, the overlap rule does not depend on the image's scale.
 */
export function arrangeReadingOrder<T extends PlacedText>(lines: readonly T[]): ArrangedText<T> {
  const columns = splitColumns(lines);
  if (columns.length > 1) {
    const arranged = columns.map((column) => arrangeRows(column));
    return {
      lines: arranged.flatMap((column) => column.lines),
      text: arranged.map((column) => column.text).join('\n'),
    };
  }
  return arrangeRows(lines);
}

/**
 * Splits boxes into columns where a vertical gutter, wider than the tallest box, runs between them from top to
 * bottom, and every column holds {@link MIN_COLUMN_BOXES} boxes or more: a two-column page is read column by
 * column, while a line the detector split at a wide gap stays one row.
 */
function splitColumns<T extends PlacedText>(lines: readonly T[]): T[][] {
  if (lines.length < 2 * MIN_COLUMN_BOXES) return [[...lines]];
  const spans = lines
    .map((line) => {
      const xs = line.quad.map((point) => point[0]);
      const { top, bottom } = verticalExtent(line.quad);
      return { line, left: Math.min(...xs), right: Math.max(...xs), height: bottom - top };
    })
    .sort((a, b) => a.left - b.left);
  const gutter = Math.max(...spans.map((span) => span.height));
  const columns: T[][] = [];
  let current: T[] = [];
  let reach = Number.NEGATIVE_INFINITY;
  for (const span of spans) {
    if (current.length > 0 && span.left - reach > gutter) {
      columns.push(current);
      current = [];
    }
    current.push(span.line);
    reach = Math.max(reach, span.right);
  }
  columns.push(current);
  return columns.every((column) => column.length >= MIN_COLUMN_BOXES) ? columns : [[...lines]];
}

/** Rows top to bottom, boxes within a row left to right. */
function arrangeRows<T extends PlacedText>(lines: readonly T[]): ArrangedText<T> {
  const placed = lines
    .map((line) => ({ line, ...verticalExtent(line.quad) }))
    .sort((a, b) => a.top + a.bottom - (b.top + b.bottom));
  const rows: (typeof placed)[] = [];
  for (const item of placed) {
    const row = rows.at(-1);
    if (row !== undefined) {
      const rowTop = row.reduce((sum, member) => sum + member.top, 0) / row.length;
      const rowBottom = row.reduce((sum, member) => sum + member.bottom, 0) / row.length;
      const overlap = Math.min(rowBottom, item.bottom) - Math.max(rowTop, item.top);
      if (overlap > 0.5 * Math.min(rowBottom - rowTop, item.bottom - item.top)) {
        row.push(item);
        continue;
      }
    }
    rows.push([item]);
  }
  const ordered = rows.map((row) =>
    row.map((member) => member.line).sort((a, b) => horizontalStart(a.quad) - horizontalStart(b.quad)),
  );
  return {
    lines: ordered.flat(),
    text: ordered.map((row) => row.map((line) => line.text).join(' ')).join('\n'),
  };
}
