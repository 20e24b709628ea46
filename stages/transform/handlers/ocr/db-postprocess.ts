import type { OpenCv } from './opencv.ts';
import { distance, orderClockwise, type Point, polygonArea, polygonPerimeter, type Quad } from './quads.ts';

/** PaddleOCR's `DBPostProcess` settings, as its PP-OCRv4 inference defaults set them. */
export interface DbSettings {
  /** Probability above which a pixel is text (`thresh`). */
  readonly threshold: number;
  /** Mean probability inside a box below which the box is dropped (`box_thresh`, `score_mode: fast`). */
  readonly boxThreshold: number;
  /** How far a box grows past its shrunk text kernel: offset = area * ratio / perimeter (`unclip_ratio`). */
  readonly unclipRatio: number;
  /** Contours looked at per image (`max_candidates`). */
  readonly maxCandidates: number;
}

export const PADDLE_DB_SETTINGS: DbSettings = {
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  maxCandidates: 1000,
};

/** A box's short side must reach this before unclipping, and this + 2 after (PaddleOCR's `min_size`). */
const MIN_SIZE = 3;

/** The detector's output: one text probability per pixel of the resized input, row by row. */
export interface ProbabilityMap {
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

export interface DetectedBox {
  /** Corners in the destination image's pixels, clockwise from the top-left. */
  readonly quad: Quad;
  /** Mean text probability inside the box before unclipping. */
  readonly score: number;
}

/**
 * Differentiable Binarization post-processing, after PaddleOCR's `DBPostProcess.boxes_from_bitmap`: binarise the
 * map, take each contour's minimum-area rectangle, score it by the mean probability inside ("fast" mode), grow it
 * by the unclip offset, and scale it to the destination size.
 *
 * The unclip step offsets the minimum-area rectangle by `area * ratio / perimeter` on every side. PaddleOCR offsets
 * the same rectangle with Clipper (round joins) and takes the minimum-area rectangle of the result, which is
 * exactly this rectangle: the rounded corners stay inside it.
 */
export function boxesFromProbabilityMap(
  cv: OpenCv,
  map: ProbabilityMap,
  destination: { readonly width: number; readonly height: number },
  settings: DbSettings = PADDLE_DB_SETTINGS,
): DetectedBox[] {
  const { width, height, data } = map;
  const bitmap = new cv.Mat(height, width, cv.CV_8UC1);
  const probabilities = cv.matFromArray(height, width, cv.CV_32FC1, data);
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  const boxes: DetectedBox[] = [];
  try {
    const bits = bitmap.data;
    for (let i = 0; i < data.length; i += 1) bits[i] = (data[i] as number) > settings.threshold ? 255 : 0;
    cv.findContours(bitmap, contours, hierarchy, cv.RETR_LIST, cv.CHAIN_APPROX_SIMPLE);
    const candidates = Math.min(contours.size(), settings.maxCandidates);
    for (let i = 0; i < candidates; i += 1) {
      const contour = contours.get(i);
      try {
        const rect = cv.minAreaRect(contour);
        if (Math.min(rect.size.width, rect.size.height) < MIN_SIZE) continue;
        const kernel = miniBox(cv, rect);
        const score = meanInside(cv, probabilities, kernel);
        if (score < settings.boxThreshold) continue;
        const offset = (polygonArea(kernel) * settings.unclipRatio) / polygonPerimeter(kernel);
        const grown = {
          center: rect.center,
          size: { width: rect.size.width + 2 * offset, height: rect.size.height + 2 * offset },
          angle: rect.angle,
        };
        if (Math.min(grown.size.width, grown.size.height) < MIN_SIZE + 2) continue;
        const scaled = miniBox(cv, grown).map(
          ([x, y]): Point => [
            clamp(Math.round((x / width) * destination.width), 0, destination.width),
            clamp(Math.round((y / height) * destination.height), 0, destination.height),
          ],
        );
        boxes.push({ quad: scaled as unknown as Quad, score });
      } finally {
        contour.delete();
      }
    }
  } finally {
    bitmap.delete();
    probabilities.delete();
    contours.delete();
    hierarchy.delete();
  }
  return boxes;
}

/**
 * PaddleOCR's `filter_tag_det_res`: corners ordered clockwise and clipped into the image, and boxes with a side of
 * 3 pixels or less dropped.
 */
export function tidyBoxes(boxes: readonly DetectedBox[], image: { width: number; height: number }): DetectedBox[] {
  const kept: DetectedBox[] = [];
  for (const box of boxes) {
    const ordered = orderClockwise(box.quad);
    const quad = ordered.map(
      ([x, y]): Point => [clamp(x, 0, image.width - 1), clamp(y, 0, image.height - 1)],
    ) as unknown as Quad;
    if (Math.trunc(distance(quad[0], quad[1])) <= 3 || Math.trunc(distance(quad[0], quad[3])) <= 3) continue;
    kept.push({ quad, score: box.score });
  }
  return kept;
}

/** A rotated rectangle's corners in PaddleOCR's `get_mini_boxes` order: top-left, top-right, bottom-right, bottom-left. */
function miniBox(
  cv: OpenCv,
  rect: { center: { x: number; y: number }; size: { width: number; height: number }; angle: number },
): Quad {
  const corners = cv.RotatedRect.points(rect as Parameters<OpenCv['RotatedRect']['points']>[0])
    .map((point): Point => [point.x, point.y])
    .sort((a, b) => a[0] - b[0]);
  const [a, b, c, d] = corners as [Point, Point, Point, Point];
  const [topLeft, bottomLeft] = b[1] > a[1] ? [a, b] : [b, a];
  const [topRight, bottomRight] = d[1] > c[1] ? [c, d] : [d, c];
  return [topLeft, topRight, bottomRight, bottomLeft];
}

/** PaddleOCR's `box_score_fast`: the mean probability over the pixels the (integer) quad covers. */
function meanInside(cv: OpenCv, probabilities: InstanceType<OpenCv['Mat']>, quad: Quad): number {
  const xs = quad.map((point) => point[0]);
  const ys = quad.map((point) => point[1]);
  const xmin = clamp(Math.floor(Math.min(...xs)), 0, probabilities.cols - 1);
  const xmax = clamp(Math.ceil(Math.max(...xs)), 0, probabilities.cols - 1);
  const ymin = clamp(Math.floor(Math.min(...ys)), 0, probabilities.rows - 1);
  const ymax = clamp(Math.ceil(Math.max(...ys)), 0, probabilities.rows - 1);
  const mask = cv.Mat.zeros(ymax - ymin + 1, xmax - xmin + 1, cv.CV_8UC1) as unknown as InstanceType<OpenCv['Mat']>;
  const corners = cv.matFromArray(
    4,
    1,
    cv.CV_32SC2,
    quad.flatMap(([x, y]) => [Math.trunc(x - xmin), Math.trunc(y - ymin)]),
  );
  const polygons = new cv.MatVector();
  const region = probabilities.roi(new cv.Rect(xmin, ymin, xmax - xmin + 1, ymax - ymin + 1));
  try {
    polygons.push_back(corners);
    cv.fillPoly(mask, polygons, new cv.Scalar(1));
    return cv.mean(region, mask)[0] ?? 0;
  } finally {
    mask.delete();
    corners.delete();
    polygons.delete();
    region.delete();
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
