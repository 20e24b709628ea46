/** Per-channel normalisation, `(value / 255 - mean) / std`, in the tensor's channel order. */
export interface Normalisation {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** PaddleOCR's detector: ImageNet statistics (applied to BGR channels, as PaddleOCR reads images with cv2). */
export const DETECTOR_NORMALISATION: Normalisation = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** PaddleOCR's recogniser and direction classifier: `(x / 255 - 0.5) / 0.5`. */
export const RECOGNISER_NORMALISATION: Normalisation = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/**
 * Writes interleaved RGB pixels into one image of an NCHW float tensor, as B, G, R planes (the PaddleOCR models
 * were trained on cv2's BGR images). `tensorWidth` may exceed `width`: the columns right of the image keep their
 * value (0 in a fresh tensor, PaddleOCR's padding).
 */
export function writeBgrPlanes(
  pixels: Uint8Array,
  width: number,
  height: number,
  tensor: Float32Array,
  offset: number,
  tensorWidth: number,
  normalisation: Normalisation,
): void {
  const plane = tensorWidth * height;
  const scale = normalisation.std.map((std) => 1 / (255 * std));
  const shift = normalisation.mean.map((mean, channel) => mean / (normalisation.std[channel] as number));
  const [scaleB, scaleG, scaleR] = scale as [number, number, number];
  const [shiftB, shiftG, shiftR] = shift as [number, number, number];
  for (let y = 0; y < height; y += 1) {
    let source = y * width * 3;
    let target = offset + y * tensorWidth;
    for (let x = 0; x < width; x += 1) {
      tensor[target] = (pixels[source + 2] as number) * scaleB - shiftB;
      tensor[target + plane] = (pixels[source + 1] as number) * scaleG - shiftG;
      tensor[target + 2 * plane] = (pixels[source] as number) * scaleR - shiftR;
      source += 3;
      target += 1;
    }
  }
}
