import { horizontalStart, type Quad, verticalExtent } from './quads.ts';

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
 * Puts detected lines in reading order for left-to-right, top-to-bottom scripts. Boxes whose vertical extents
 * overlap by more than half the smaller height share a row (a line the detector split at a wide gap, or table
 * cells side by side); rows go top to bottom and boxes within a row left to right. Unlike PaddleOCR's fixed
 * 10-pixel tolerance in `sorted_boxes`, the overlap rule does not depend on the image's scale.
 */
export function arrangeReadingOrder<T extends PlacedText>(lines: readonly T[]): ArrangedText<T> {
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
