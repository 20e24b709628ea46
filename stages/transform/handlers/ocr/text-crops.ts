import { RECOGNISER_NORMALISATION, writeBgrPlanes } from './image-tensors.ts';
import type { OpenCv } from './opencv.ts';
import { distance, type Quad } from './quads.ts';

type Mat = InstanceType<OpenCv['Mat']>;

/**
 * Cuts one text box out of the image as an upright rectangle, as PaddleOCR's `get_rotate_crop_image`: a
 * perspective warp of the quad onto its own width x height (cubic interpolation, replicated border), turned a
 * quarter counter-clockwise when it is at least 1.5 times taller than wide (vertical text). The caller deletes it.
 */
export function cropQuad(cv: OpenCv, image: Mat, quad: Quad): Mat {
  const [topLeft, topRight, bottomRight, bottomLeft] = quad;
  const width = Math.max(1, Math.trunc(Math.max(distance(topLeft, topRight), distance(bottomRight, bottomLeft))));
  const height = Math.max(1, Math.trunc(Math.max(distance(topLeft, bottomLeft), distance(topRight, bottomRight))));
  const source = cv.matFromArray(4, 1, cv.CV_32FC2, quad.flat());
  const target = cv.matFromArray(4, 1, cv.CV_32FC2, [0, 0, width, 0, width, height, 0, height]);
  const transform = cv.getPerspectiveTransform(source, target);
  const crop = new cv.Mat();
  try {
    cv.warpPerspective(
      image,
      crop,
      transform,
      new cv.Size(width, height),
      cv.INTER_CUBIC,
      cv.BORDER_REPLICATE,
      new cv.Scalar(),
    );
  } catch (error) {
    crop.delete();
    throw error;
  } finally {
    source.delete();
    target.delete();
    transform.delete();
  }
  if (height / width < 1.5) return crop;
  const turned = new cv.Mat();
  cv.rotate(crop, turned, cv.ROTATE_90_COUNTERCLOCKWISE);
  crop.delete();
  return turned;
}

/** Turns a crop upside down in place of the original (which is deleted). */
export function rotateHalfTurn(cv: OpenCv, crop: Mat): Mat {
  const turned = new cv.Mat();
  cv.rotate(crop, turned, cv.ROTATE_180);
  crop.delete();
  return turned;
}

/** Height of the line images the recogniser and the direction classifier read. */
export const LINE_HEIGHT = 48;

/**
 * A crop's width once scaled to {@link LINE_HEIGHT} rows (at least 1 column), times `widthScale` when the crop is
 * at least that tall: small print, enlarged to 48 rows, keeps its aspect ratio, because squeezing it merged the
 * words of 10 pt print at 150 dpi (stages/transform/README.md, "Line width").
 */
export function lineWidth(crop: { readonly cols: number; readonly rows: number }, widthScale = 1): number {
  const scale = crop.rows >= LINE_HEIGHT ? widthScale : 1;
  return Math.max(1, Math.ceil((LINE_HEIGHT * crop.cols * scale) / crop.rows));
}

/**
 * Writes one crop into an NCHW line tensor as PaddleOCR's `resize_norm_img`: scaled to {@link LINE_HEIGHT} rows
 * keeping its aspect ratio (capped at `tensorWidth` columns), normalised to [-1, 1], padded on the right with 0.
 */
export function writeLineImage(
  cv: OpenCv,
  crop: Mat,
  tensor: Float32Array,
  offset: number,
  tensorWidth: number,
  widthScale = 1,
): void {
  const width = Math.min(tensorWidth, lineWidth(crop, widthScale));
  const resized = new cv.Mat();
  try {
    cv.resize(crop, resized, new cv.Size(width, LINE_HEIGHT), 0, 0, cv.INTER_LINEAR);
    writeBgrPlanes(resized.data, width, LINE_HEIGHT, tensor, offset, tensorWidth, RECOGNISER_NORMALISATION);
  } finally {
    resized.delete();
  }
}
