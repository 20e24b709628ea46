import { describe, expect, it } from 'vitest';
import { orderClockwise, padQuad, type Quad } from '../../stages/transform/handlers/ocr/quads.ts';
import { detectorInputSize } from '../../stages/transform/handlers/ocr/text-detector.ts';

describe('OCR: geometry', () => {
  it('sizes the detector input as PaddleOCR: longer side at most 960, both sides multiples of 32', () => {
    expect(detectorInputSize(1920, 1080, 960)).toEqual({ width: 960, height: 544 });
    expect(detectorInputSize(517, 62, 960)).toEqual({ width: 512, height: 64 });
    expect(detectorInputSize(10, 10, 960)).toEqual({ width: 32, height: 32 });
  });

  it('orders corners clockwise from the top-left whatever order they come in', () => {
    const quad = orderClockwise([
      [110, 52],
      [10, 40],
      [12, 60],
      [108, 32],
    ]);

    expect(quad).toEqual([
      [10, 40],
      [108, 32],
      [110, 52],
      [12, 60],
    ]);
  });

  it('pads a box along its own axes by a share of its height, clipped to the image', () => {
    const quad: Quad = [
      [10, 20],
      [110, 20],
      [110, 40],
      [10, 40],
    ];

    expect(padQuad(quad, 0.25, { width: 200, height: 100 })).toEqual([
      [5, 15],
      [115, 15],
      [115, 45],
      [5, 45],
    ]);
    expect(padQuad(quad, 1, { width: 120, height: 100 })[1]).toEqual([119, 0]);
    // Less context on the sides than above and below, as the recogniser's crops take it.
    expect(padQuad(quad, 0.25, { width: 200, height: 100 }, 0.1)).toEqual([
      [8, 15],
      [112, 15],
      [112, 45],
      [8, 45],
    ]);
    expect(padQuad(quad, 0, { width: 200, height: 100 }, 0.1)[0]).toEqual([8, 20]);
  });
});
