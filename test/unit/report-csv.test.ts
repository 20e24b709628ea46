import { describe, expect, it } from 'vitest';
import type { OutcomeRecord, PredictionRecord } from '../../shared/records.ts';
import { csvTextField, predictionsCsv, predictionsCsvLine } from '../../stages/report/predictions-csv.ts';

function row(key: string): PredictionRecord {
  return {
    runId: 'r',
    key,
    bucket: 'b',
    outcome: 'PREDICTED',
    modelName: 'm',
    modelVersion: '1',
    confidence: 0.5,
    part: 'p',
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
}

describe('predictions.csv fields', () => {
  it.each([
    ['plain.jpg', 'plain.jpg'],
    ['a,b.jpg', '"a,b.jpg"'],
    ['say "hi".jpg', '"say ""hi"".jpg"'],
    ['two\nlines.jpg', '"two\nlines.jpg"'],
    ['cr\r.jpg', '"cr\r.jpg"'],
  ])('quotes %j as RFC 4180 requires', (value, expected) => {
    expect(csvTextField(value)).toBe(expected);
  });

  it.each(['=1+1', '+1', '-1', '@SUM(A1)', '\tcmd'])('prefixes the formula-like cell %j with a quote', (value) => {
    expect(csvTextField(value)).toBe(`'${value}`);
  });

  it('quotes a formula-like cell after prefixing it when it also holds a comma', () => {
    expect(csvTextField('=A1,B1')).toBe(`"'=A1,B1"`);
  });

  it('leaves numbers of prediction rows unprefixed and rejection columns empty', () => {
    expect(predictionsCsvLine({ ...row('k'), match: false })).toBe('k,b,PREDICTED,,,0.5,,false,,\r\n');
  });
});

describe('predictionsCsv', () => {
  it('pulls rows only as chunks are consumed, so the file is never held whole', async () => {
    let pulled = 0;
    async function* rows(): AsyncGenerator<OutcomeRecord> {
      for (let i = 0; i < 10_000; i++) {
        pulled += 1;
        yield row(`images/${'x'.repeat(40)}/${i}.jpg`);
      }
    }

    const chunks = predictionsCsv(rows());
    const first = await chunks.next();

    expect(first.done).toBe(false);
    expect(pulled).toBeLessThan(10_000);
    let lines = (first.value as string).split('\r\n').length - 1;
    for await (const chunk of chunks) lines += chunk.split('\r\n').length - 1;
    expect(lines).toBe(10_001);
  });

  it('shows every row to the callback once', async () => {
    const seen: string[] = [];
    async function* rows(): AsyncGenerator<OutcomeRecord> {
      yield row('a');
      yield row('b');
    }

    for await (const _ of predictionsCsv(rows(), (r) => seen.push(r.key))) {
      // drain
    }

    expect(seen).toEqual(['a', 'b']);
  });
});
