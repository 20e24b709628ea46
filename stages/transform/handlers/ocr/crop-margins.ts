import { distance, type Quad } from './quads.ts';
import { LINE_HEIGHT } from './text-crops.ts';

/** How much context above and below each box the recogniser's crop takes, as fractions of the box height. */
export interface CropMarginSettings {
  /** For boxes whose crop is at least {@link LINE_HEIGHT} rows tall with this margin. */
  readonly cropMargin: number;
  /** For smaller print: boxes whose crop with `cropMargin` would be enlarged to reach {@link LINE_HEIGHT} rows. */
  readonly smallPrintMargin: number;
  /**
   * The crop reaches at most this share of the distance from the box's centre line to the nearest line centre
   * above or below it (`null`: no limit).
   */
  readonly neighbourReach: number | null;
}

/**
 * The margin above and below each box, as a fraction of its height, chosen from the box's size and its
 * neighbours.
 *
 * PP-OCRv4's recogniser drops the spaces between words when a crop is cut close to the glyphs, and small print
 * (10 pt at 150 dpi) needs more context than large: `smallPrintMargin` rather than `cropMargin`. On a dense page the
 * margin must also stay out of the neighbouring lines' lowercase letters, which start about three quarters of the
 * way to the next line's centre; taking in more garbled whole lines of a two-column page. The limit comes from the
 * page itself (the line pitch), not the box height: the detector's boxes for the same print are 15-20% taller on a
 * page it reads at a reduced scale (a two-column page over 960 pixels wide) than on one it reads at full size.
 * Neighbours are boxes that overlap this one along its own axis and whose centre lies more than half its height
 * above or below it, so columns side by side and boxes of one row do not limit each other. Measured in
 * stages/transform/README.md, "Crop margin".
 */
export function cropMargins(quads: readonly Quad[], settings: CropMarginSettings): number[] {
  const lines = quads.map(lineGeometry);
  return lines.map((line, index) => {
    const small = line.height * (1 + 2 * settings.cropMargin) < LINE_HEIGHT;
    const wanted = small ? settings.smallPrintMargin : settings.cropMargin;
    if (settings.neighbourReach === null) return wanted;
    const pitch = nearestLinePitch(lines, index);
    if (!Number.isFinite(pitch)) return wanted;
    const limit = (settings.neighbourReach * pitch - line.height / 2) / line.height;
    return Math.max(0, Math.min(wanted, limit));
  });
}

interface LineGeometry {
  readonly quad: Quad;
  readonly width: number;
  readonly height: number;
  readonly centre: readonly [number, number];
  /** Unit vector along the top edge. */
  readonly along: readonly [number, number];
}

function lineGeometry(quad: Quad): LineGeometry {
  const [topLeft, topRight, bottomRight, bottomLeft] = quad;
  const width = Math.max(distance(topLeft, topRight), 1);
  const height = Math.max(distance(topLeft, bottomLeft), distance(topRight, bottomRight), 1);
  const centre = [
    (topLeft[0] + topRight[0] + bottomRight[0] + bottomLeft[0]) / 4,
    (topLeft[1] + topRight[1] + bottomRight[1] + bottomLeft[1]) / 4,
  ] as const;
  const along = [(topRight[0] - topLeft[0]) / width, (topRight[1] - topLeft[1]) / width] as const;
  return { quad, width, height, centre, along };
}

/** Distance from a line's centre to the nearest neighbouring line's centre, across the line (Infinity: none). */
function nearestLinePitch(lines: readonly LineGeometry[], index: number): number {
  const line = lines[index] as LineGeometry;
  const [alongX, alongY] = line.along;
  const [centreX, centreY] = line.centre;
  const halfWidth = line.width / 2;
  let nearest = Number.POSITIVE_INFINITY;
  for (let otherIndex = 0; otherIndex < lines.length; otherIndex += 1) {
    const other = lines[otherIndex] as LineGeometry;
    const across = Math.abs((other.centre[1] - centreY) * alongX - (other.centre[0] - centreX) * alongY);
    // Cheap test first: a page can hold a thousand boxes, and this runs for every pair.
    if (otherIndex === index || across < line.height / 2 || across >= nearest) continue;
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (const [x, y] of other.quad) {
      const offset = (x - centreX) * alongX + (y - centreY) * alongY;
      low = Math.min(low, offset);
      high = Math.max(high, offset);
    }
    if (high > -halfWidth && low < halfWidth) nearest = across;
  }
  return nearest;
}
