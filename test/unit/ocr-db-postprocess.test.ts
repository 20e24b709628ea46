import { beforeAll, describe, expect, it } from 'vitest';
import { boxesFromProbabilityMap, tidyBoxes } from '../../stages/transform/handlers/ocr/db-postprocess.ts';
import { loadOpenCv, type OpenCv } from '../../stages/transform/handlers/ocr/opencv.ts';

const WIDTH = 200;
const HEIGHT = 100;

/** A probability map with rectangles of constant probability (inclusive pixel bounds). */
function probabilityMap(regions: { x0: number; y0: number; x1: number; y1: number; p: number }[]): Float32Array {
  const data = new Float32Array(WIDTH * HEIGHT);
  for (const { x0, y0, x1, y1, p } of regions) {
    for (let y = y0; y <= y1; y += 1) for (let x = x0; x <= x1; x += 1) data[y * WIDTH + x] = p;
  }
  return data;
}

describe('OCR: DB post-processing', () => {
  let cv: OpenCv;

  beforeAll(async () => {
    ({ cv } = await loadOpenCv());
  });

  it('grows a text kernel by area * 1.5 / perimeter and scales it to the destination image', () => {
    // Pixels 20..119 x 30..49: minAreaRect through the pixel centres is 99 x 19 around (69.5, 39.5); the
    // offset is 99 * 19 * 1.5 / (2 * (99 + 19)) = 11.955, so the grown box spans 8.045..130.955 x 18.045..60.955,
    // twice that in a 400 x 200 destination, rounded.
    const data = probabilityMap([{ x0: 20, y0: 30, x1: 119, y1: 49, p: 0.9 }]);

    const boxes = boxesFromProbabilityMap(cv, { data, width: WIDTH, height: HEIGHT }, { width: 400, height: 200 });

    expect(boxes).toHaveLength(1);
    expect(boxes[0]?.quad).toEqual([
      [16, 36],
      [262, 36],
      [262, 122],
      [16, 122],
    ]);
    expect(boxes[0]?.score).toBeCloseTo(0.9, 5);
  });

  it('drops regions whose mean probability is under the box threshold and specks under 3 pixels', () => {
    const data = probabilityMap([
      { x0: 10, y0: 10, x1: 90, y1: 25, p: 0.45 },
      { x0: 150, y0: 70, x1: 151, y1: 71, p: 0.99 },
      { x0: 120, y0: 10, x1: 190, y1: 30, p: 0.8 },
    ]);

    const boxes = boxesFromProbabilityMap(cv, { data, width: WIDTH, height: HEIGHT }, { width: WIDTH, height: HEIGHT });

    expect(boxes).toHaveLength(1);
    expect(boxes[0]?.score).toBeCloseTo(0.8, 5);
  });

  it('clips boxes into the image and drops the ones 3 pixels wide or less', () => {
    const tidy = tidyBoxes(
      [
        {
          quad: [
            [-5, 2],
            [250, 2],
            [250, 30],
            [-5, 30],
          ],
          score: 0.9,
        },
        {
          quad: [
            [10, 50],
            [13, 50],
            [13, 90],
            [10, 90],
          ],
          score: 0.9,
        },
      ],
      { width: 200, height: 100 },
    );

    expect(tidy).toEqual([
      {
        quad: [
          [0, 2],
          [199, 2],
          [199, 30],
          [0, 30],
        ],
        score: 0.9,
      },
    ]);
  });
});
