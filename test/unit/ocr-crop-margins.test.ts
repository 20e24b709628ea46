import { describe, expect, it } from 'vitest';
import { cropMargins } from '../../stages/transform/handlers/ocr/crop-margins.ts';
import type { Quad } from '../../stages/transform/handlers/ocr/quads.ts';

/** An axis-aligned box `width` x `height` with its top-left corner at (`left`, `top`). */
function box(left: number, top: number, width: number, height: number): Quad {
  return [
    [left, top],
    [left + width, top],
    [left + width, top + height],
    [left, top + height],
  ];
}

const SETTINGS = { cropMargin: 0.3, smallPrintMargin: 0.4, neighbourReach: 0.75 } as const;

describe('OCR: crop margins', () => {
  it('gives a lone line the margin of its print size: small print when its crop would be under 48 rows', () => {
    // 30 rows of box with 0.3 above and below is 48 rows: not small; 29 is.
    expect(cropMargins([box(0, 0, 300, 30)], SETTINGS)).toEqual([0.3]);
    expect(cropMargins([box(0, 0, 300, 29)], SETTINGS)).toEqual([0.4]);
  });

  it('keeps the crop of a dense line to three quarters of the way to the next line centre', () => {
    // Line centres 24 pixels apart, boxes 20 high: the crop may reach 18 pixels from the centre, 8 past the box.
    const page = [box(0, 0, 500, 20), box(0, 24, 480, 20), box(0, 48, 510, 20)];

    const margins = cropMargins(page, SETTINGS);

    expect(margins).toEqual([0.4, 0.4, 0.4]);
    const tighter = [box(0, 0, 500, 23), box(0, 24, 480, 23), box(0, 48, 510, 23)];
    for (const margin of cropMargins(tighter, SETTINGS)) expect(margin).toBeCloseTo((0.75 * 24 - 11.5) / 23, 10);
  });

  it('lets neither a column beside a line nor a box of its own row limit it', () => {
    const twoColumns = [box(0, 0, 500, 23), box(560, 12, 480, 23)];
    const oneRow = [box(0, 0, 300, 23), box(250, 3, 300, 23)];

    expect(cropMargins(twoColumns, SETTINGS)).toEqual([0.4, 0.4]);
    expect(cropMargins(oneRow, SETTINGS)).toEqual([0.4, 0.4]);
  });

  it('measures the pitch across a rotated line, and never goes below no margin', () => {
    const turned = (quad: Quad): Quad => quad.map(([x, y]) => [y, -x] as const) as unknown as Quad;
    const stacked = [box(0, 0, 500, 23), box(0, 24, 480, 23)].map(turned);
    const overlapping = [box(0, 0, 500, 40), box(0, 20, 500, 40)];

    for (const margin of cropMargins(stacked, SETTINGS)) expect(margin).toBeCloseTo((0.75 * 24 - 11.5) / 23, 10);
    expect(cropMargins(overlapping, SETTINGS)).toEqual([0, 0]);
  });

  it('keeps the wanted margin when the neighbour limit is off', () => {
    const page = [box(0, 0, 500, 23), box(0, 24, 480, 23)];

    expect(cropMargins(page, { ...SETTINGS, neighbourReach: null })).toEqual([0.4, 0.4]);
  });
});
