import type { z } from 'zod';
import type { Geometry, ModelOutput, TextLineSchema } from '../../shared/records.ts';

type TextLine = z.infer<typeof TextLineSchema>;

/**
 * Maps a point from model-input pixels back to the original (EXIF-oriented) image:
 * original = (resized - offset) / scale, clamped to the image.
 */
export function toOriginal(point: readonly [number, number], geometry: Geometry): [number, number] {
  const x = (point[0] - geometry.offsetX) / geometry.scaleX;
  const y = (point[1] - geometry.offsetY) / geometry.scaleY;
  const clamp = (value: number, max: number) => Math.round(Math.min(Math.max(value, 0), max) * 10) / 10;
  return [clamp(x, geometry.originalWidth), clamp(y, geometry.originalHeight)];
}

/** Text lines with their boxes in original-image coordinates. */
export function mapLines(output: ModelOutput, geometry: Geometry): TextLine[] | undefined {
  return output.lines?.map((line) => ({
    text: line.text,
    confidence: line.confidence,
    ...(line.box ? { box: line.box.map((point) => toOriginal(point, geometry)) } : {}),
  }));
}

/** Whitespace-normalised, Unicode-normalised comparison text (case is kept: "ABC" is not "abc" for OCR). */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').replace(/\s+/g, ' ').trim();
}

/** The single confidence a prediction is ranked and charted by. */
export function confidenceOf(output: ModelOutput): number {
  if (output.confidence !== undefined) return output.confidence;
  const top = output.labels?.[0];
  if (top !== undefined) return Math.min(Math.max(top.score, 0), 1);
  const lines = output.lines ?? [];
  if (lines.length === 0) return 0;
  return lines.reduce((sum, line) => sum + line.confidence, 0) / lines.length;
}
