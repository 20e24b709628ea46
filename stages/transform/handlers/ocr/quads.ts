/** A pixel position, `[x, y]`. */
export type Point = readonly [number, number];

/** Four corners of a text box: top-left, top-right, bottom-right, bottom-left (clockwise from the top-left). */
export type Quad = readonly [Point, Point, Point, Point];

/**
 * Orders four corners clockwise from the top-left, as PaddleOCR's `order_points_clockwise`: the top-left has the
 * smallest x + y, the bottom-right the largest; of the other two, the top-right has the smallest y - x.
 */
export function orderClockwise(points: readonly Point[]): Quad {
  if (points.length !== 4) throw new Error(`a quad has 4 corners, not ${points.length}`);
  const bySum = [...points].sort((a, b) => a[0] + a[1] - (b[0] + b[1]));
  const topLeft = bySum[0] as Point;
  const bottomRight = bySum[3] as Point;
  const rest = [bySum[1], bySum[2]] as [Point, Point];
  rest.sort((a, b) => a[1] - a[0] - (b[1] - b[0]));
  return [topLeft, rest[0], bottomRight, rest[1]];
}

/** Shoelace area of a polygon (absolute). */
export function polygonArea(points: readonly Point[]): number {
  let twice = 0;
  for (let i = 0; i < points.length; i += 1) {
    const [x1, y1] = points[i] as Point;
    const [x2, y2] = points[(i + 1) % points.length] as Point;
    twice += x1 * y2 - x2 * y1;
  }
  return Math.abs(twice) / 2;
}

export function polygonPerimeter(points: readonly Point[]): number {
  let length = 0;
  for (let i = 0; i < points.length; i += 1) {
    length += distance(points[i] as Point, points[(i + 1) % points.length] as Point);
  }
  return length;
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/** Top and bottom of a quad (its vertical extent). */
export function verticalExtent(quad: Quad): { top: number; bottom: number } {
  const ys = quad.map((point) => point[1]);
  return { top: Math.min(...ys), bottom: Math.max(...ys) };
}

export function horizontalStart(quad: Quad): number {
  return Math.min(...quad.map((point) => point[0]));
}

/**
 * Grows a quad along its own axes by `margin` times its height above and below, and `sideMargin` times its
 * height left and right, clipped to the image.
 */
export function padQuad(
  quad: Quad,
  margin: number,
  image: { width: number; height: number },
  sideMargin = margin,
): Quad {
  if (margin === 0 && sideMargin === 0) return quad;
  const [topLeft, topRight, bottomRight, bottomLeft] = quad;
  const width = Math.max(distance(topLeft, topRight), 1);
  const height = Math.max(distance(topLeft, bottomLeft), distance(topRight, bottomRight));
  const side = height * sideMargin;
  const vertical = height * margin;
  // Unit vectors along the top edge (rightwards) and perpendicular to it (downwards in image coordinates).
  const along: Point = [(topRight[0] - topLeft[0]) / width, (topRight[1] - topLeft[1]) / width];
  const down: Point = [-along[1], along[0]];
  const move = (point: Point, right: number, below: number): Point => [
    Math.min(Math.max(point[0] + along[0] * right * side + down[0] * below * vertical, 0), image.width - 1),
    Math.min(Math.max(point[1] + along[1] * right * side + down[1] * below * vertical, 0), image.height - 1),
  ];
  return [move(topLeft, -1, -1), move(topRight, 1, -1), move(bottomRight, 1, 1), move(bottomLeft, -1, 1)];
}
