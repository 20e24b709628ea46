import { describe, expect, it } from 'vitest';
import { arrangeReadingOrder, type PlacedText } from '../../stages/transform/handlers/ocr/reading-order.ts';

function box(text: string, left: number, top: number, width: number, height: number): PlacedText {
  return {
    text,
    confidence: 0.9,
    quad: [
      [left, top],
      [left + width, top],
      [left + width, top + height],
      [left, top + height],
    ],
  };
}

describe('OCR: reading order', () => {
  it('orders rows top to bottom and boxes left to right, joining a row with spaces and rows with newlines', () => {
    const found = [
      box('total', 10, 100, 80, 30),
      box('Invoice', 10, 10, 120, 30),
      box('42.00', 200, 104, 70, 28),
      box('2024-117', 150, 12, 130, 30),
      box('Thank you', 10, 200, 150, 30),
    ];

    const arranged = arrangeReadingOrder(found);

    expect(arranged.lines.map((line) => line.text)).toEqual(['Invoice', '2024-117', 'total', '42.00', 'Thank you']);
    expect(arranged.text).toBe('Invoice 2024-117\ntotal 42.00\nThank you');
  });

  it('keeps lines apart that overlap vertically by less than half their height', () => {
    const found = [box('second', 0, 22, 100, 30), box('first', 200, 0, 100, 30)];

    const arranged = arrangeReadingOrder(found);

    expect(arranged.text).toBe('first\nsecond');
  });

  it('returns empty text for no lines', () => {
    expect(arrangeReadingOrder([])).toEqual({ lines: [], text: '' });
  });
});
