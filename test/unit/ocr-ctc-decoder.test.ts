import { describe, expect, it } from 'vitest';
import { ctcAlphabet, decodeCtcLine } from '../../stages/transform/handlers/ocr/ctc-decoder.ts';

/** One probability row per step: `best` gets `probability`, the rest share what is left. */
function steps(alphabet: readonly string[], path: readonly { best: number; probability: number }[]): Float32Array {
  const rows = new Float32Array(path.length * alphabet.length);
  path.forEach(({ best, probability }, step) => {
    const rest = (1 - probability) / (alphabet.length - 1);
    for (let index = 0; index < alphabet.length; index += 1) {
      rows[step * alphabet.length + index] = index === best ? probability : rest;
    }
  });
  return rows;
}

describe('OCR: CTC decoding', () => {
  const alphabet = ctcAlphabet('a\nb\nc\n');

  it('builds the alphabet as PaddleOCR does: blank first, the dictionary, then a space', () => {
    expect(alphabet).toEqual(['', 'a', 'b', 'c', ' ']);
    expect(ctcAlphabet('a\r\nb')).toEqual(['', 'a', 'b', ' ']);
  });

  it('collapses repeated steps, drops blanks and keeps a letter repeated across a blank', () => {
    // a a _ a b b _ _ c: "aabc" (the blank separates the two a's).
    const path = [1, 1, 0, 1, 2, 2, 0, 0, 3].map((best) => ({ best, probability: 0.9 }));

    const decoded = decodeCtcLine(steps(alphabet, path), 0, path.length, alphabet);

    expect(decoded.text).toBe('aabc');
  });

  it('decodes spaces and scores a line by the mean probability of the steps it keeps', () => {
    const path = [
      { best: 1, probability: 0.9 },
      { best: 0, probability: 0.2 },
      { best: 4, probability: 0.6 },
      { best: 2, probability: 0.6 },
      { best: 2, probability: 0.99 },
    ];

    const decoded = decodeCtcLine(steps(alphabet, path), 0, path.length, alphabet);

    expect(decoded.text).toBe('a b');
    expect(decoded.confidence).toBeCloseTo((0.9 + 0.6 + 0.6) / 3, 6);
  });

  it('reads the requested line of a batch and gives 0 confidence to a line of blanks', () => {
    const blanks = [0, 0, 0].map((best) => ({ best, probability: 0.8 }));
    const letters = [3, 3, 1].map((best) => ({ best, probability: 0.7 }));
    const batch = new Float32Array([...steps(alphabet, blanks), ...steps(alphabet, letters)]);

    expect(decodeCtcLine(batch, 0, 3, alphabet)).toEqual({ text: '', confidence: 0 });
    expect(decodeCtcLine(batch, 1, 3, alphabet).text).toBe('ca');
  });
});
