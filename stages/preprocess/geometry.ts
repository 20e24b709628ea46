import type { PreprocessSettings } from '../../shared/execution-input.ts';
import type { Geometry } from '../../shared/records.ts';

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** How one image becomes model input: the size its pixels are resized to, and where they sit on the canvas. */
export interface ResizePlan {
  /** The resized image before padding; equals the canvas except for `contain`. */
  readonly content: Size;
  /** Canvas (`width` x `height`), scale and padding, as the transform record carries them. */
  readonly geometry: Geometry;
}

/**
 * Plans the resize of an upright image of `original` size to the canonical input size.
 *
 * - `inside` keeps the aspect ratio and fits within `width` x `height`, and never enlarges: an image already
 *   small enough keeps its pixels (scale 1). Detectors such as PaddleOCR's DB take any size and scale on their
 *   own; enlarging would only add payload, not detail.
 * - `contain` keeps the aspect ratio, enlarges or shrinks to fit, and pads to exactly `width` x `height`, centred.
 * - `fill` stretches to exactly `width` x `height`.
 *
 * Sizes are rounded to whole pixels and the scales recorded are the exact ratios of the rounded sizes, so
 * `original = (resized - offset) / scale` holds per axis without drift.
 */
export function planResize(original: Size, target: Pick<PreprocessSettings, 'width' | 'height' | 'fit'>): ResizePlan {
  const fitScale = Math.min(target.width / original.width, target.height / original.height);
  let content: Size;
  let canvas: Size;
  switch (target.fit) {
    case 'inside':
      content = scaleSize(original, Math.min(1, fitScale), target);
      canvas = content;
      break;
    case 'contain':
      content = scaleSize(original, fitScale, target);
      canvas = { width: target.width, height: target.height };
      break;
    case 'fill':
      content = { width: target.width, height: target.height };
      canvas = content;
      break;
  }
  return {
    content,
    geometry: {
      originalWidth: original.width,
      originalHeight: original.height,
      width: canvas.width,
      height: canvas.height,
      scaleX: content.width / original.width,
      scaleY: content.height / original.height,
      offsetX: Math.floor((canvas.width - content.width) / 2),
      offsetY: Math.floor((canvas.height - content.height) / 2),
    },
  };
}

/** Scales both sides to whole pixels: at least 1, and never past the target (rounding could overshoot by one). */
function scaleSize(original: Size, scale: number, target: Size): Size {
  return {
    width: Math.min(target.width, Math.max(1, Math.round(original.width * scale))),
    height: Math.min(target.height, Math.max(1, Math.round(original.height * scale))),
  };
}
