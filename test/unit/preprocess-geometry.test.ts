import { describe, expect, it } from 'vitest';
import { GeometrySchema } from '../../shared/records.ts';
import { planResize } from '../../stages/preprocess/geometry.ts';

/** original = (resized - offset) / scale, the mapping the transform record promises. */
function toOriginal(point: { x: number; y: number }, g: ReturnType<typeof planResize>['geometry']) {
  return { x: (point.x - g.offsetX) / g.scaleX, y: (point.y - g.offsetY) / g.scaleY };
}

describe('planResize', () => {
  it("'inside' shrinks a large image to fit the canvas, keeping its aspect ratio", () => {
    const { content, geometry } = planResize({ width: 4000, height: 3000 }, { width: 960, height: 960, fit: 'inside' });

    expect(content).toEqual({ width: 960, height: 720 });
    expect(geometry).toEqual({
      originalWidth: 4000,
      originalHeight: 3000,
      width: 960,
      height: 720,
      scaleX: 0.24,
      scaleY: 0.24,
      offsetX: 0,
      offsetY: 0,
    });
  });

  it("'inside' never enlarges an image that already fits", () => {
    const { geometry } = planResize({ width: 64, height: 48 }, { width: 960, height: 960, fit: 'inside' });

    expect(geometry).toMatchObject({ width: 64, height: 48, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 });
  });

  it("'contain' scales to fit, then centres the image on the exact canvas with the padding recorded", () => {
    const { content, geometry } = planResize({ width: 400, height: 200 }, { width: 256, height: 256, fit: 'contain' });

    expect(content).toEqual({ width: 256, height: 128 });
    expect(geometry).toMatchObject({ width: 256, height: 256, scaleX: 0.64, scaleY: 0.64, offsetX: 0, offsetY: 64 });
  });

  it("'contain' enlarges a small image to the canvas", () => {
    const { content, geometry } = planResize({ width: 50, height: 100 }, { width: 256, height: 256, fit: 'contain' });

    expect(content).toEqual({ width: 128, height: 256 });
    expect(geometry).toMatchObject({ width: 256, height: 256, scaleX: 2.56, scaleY: 2.56, offsetX: 64, offsetY: 0 });
  });

  it("'fill' stretches each axis to the canvas on its own", () => {
    const { geometry } = planResize({ width: 400, height: 100 }, { width: 200, height: 200, fit: 'fill' });

    expect(geometry).toMatchObject({ width: 200, height: 200, scaleX: 0.5, scaleY: 2, offsetX: 0, offsetY: 0 });
  });

  // The preprocess stage sends an image's own bytes only when its plan is exactly this: no resize, no padding.
  it.each(['inside', 'contain', 'fill'] as const)(
    "with '%s', plans no resize and no padding for an image of exactly the canvas size",
    (fit) => {
      const { content, geometry } = planResize({ width: 256, height: 192 }, { width: 256, height: 192, fit });

      expect(content).toEqual({ width: 256, height: 192 });
      expect(geometry).toMatchObject({ width: 256, height: 192, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 });
    },
  );

  it('keeps at least one pixel on the short side of an extreme panorama', () => {
    const { content, geometry } = planResize(
      { width: 100_000, height: 10 },
      { width: 256, height: 256, fit: 'contain' },
    );

    expect(content).toEqual({ width: 256, height: 1 });
    expect(GeometrySchema.safeParse(geometry).success).toBe(true);
  });

  it.each([
    ['inside', { width: 1234, height: 567 }],
    ['inside', { width: 333, height: 999 }],
    ['contain', { width: 1234, height: 567 }],
    ['contain', { width: 17, height: 31 }],
    ['fill', { width: 1234, height: 567 }],
  ] as const)(
    "with '%s', maps the content's far corner of a %o image back to the original's corner",
    (fit, original) => {
      const { content, geometry } = planResize(original, { width: 256, height: 256, fit });

      const corner = toOriginal(
        { x: geometry.offsetX + content.width, y: geometry.offsetY + content.height },
        geometry,
      );
      const origin = toOriginal({ x: geometry.offsetX, y: geometry.offsetY }, geometry);

      expect(corner.x).toBeCloseTo(original.width, 9);
      expect(corner.y).toBeCloseTo(original.height, 9);
      expect(origin).toEqual({ x: 0, y: 0 });
    },
  );
});
