import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../pipeline/local/engine/index.ts';
import { type LocalRunSummary, runLocalPipeline } from '../../pipeline/local/local-run.ts';
import { LocalRuntime } from '../../pipeline/local/runtime.ts';
import type { OutcomeRecord } from '../../shared/records.ts';
import { renderText } from '../helpers/text-images.ts';

/**
 * Whole local runs over input a hostile or careless user gives: execution inputs that are not objects, and a
 * one-line SageMaker ManifestFile with many bad entries and keys as long as S3 allows.
 */
describe('local runs with hostile input', () => {
  const root = mkdtempSync(join(tmpdir(), 'nightshift-hostile-'));
  const home = join(root, 'state');
  const quiet = { out: () => undefined, err: () => undefined, isTTY: false };
  const notObject: Record<string, ExecutionResult> = {};
  let summary: LocalRunSummary;
  const rows: OutcomeRecord[] = [];
  const longName = `${'n'.repeat(240)}.png`;
  const deepName = `${'d'.repeat(240)}/${'e'.repeat(240)}/${'f'.repeat(240)}/${'g'.repeat(180)}.png`;
  const tooLong = `${'x'.repeat(200)}/`.repeat(5).concat('z.png');

  beforeAll(async () => {
    const runtime = await LocalRuntime.start({ home });
    try {
      for (const [name, input] of [
        ['input-string', 's3://bucket/prefix/'],
        ['input-array', [{ dataset: 's3://bucket/prefix/' }]],
      ] as const) {
        const handle = runtime.startRun(name, input);
        notObject[name] = await handle.result();
        await runtime.finalizeEnded(handle, notObject[name], input);
      }
    } finally {
      await runtime.stop();
    }

    const data = join(root, 'data');
    mkdirSync(join(data, ...deepName.split('/').slice(0, -1)), { recursive: true });
    const image = (await renderText(['HELLO'])).bytes;
    for (const name of ['a.png', longName, deepName]) writeFileSync(join(data, name), image);
    writeFileSync(join(data, 'notes.txt'), 'not an image');
    const entries = ['a.png', '', 5, longName, null, deepName, 'a.png', 'notes.txt', tooLong, 'missing.png', 'a.png'];
    writeFileSync(join(data, 'one-line.json'), JSON.stringify([{ prefix: 's3://ignored/' }, ...entries]));
    summary = await runLocalPipeline({ home, source: join(data, 'one-line.json'), runId: 'one-line', io: quiet });

    const again = await LocalRuntime.start({ home });
    try {
      for await (const row of again.stores.predictions.list('one-line')) rows.push(row);
    } finally {
      await again.stop();
    }
  }, 400_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('fails an execution input that is a string or an array with InvalidInputError saying so, and announces it', () => {
    const notifications = readFileSync(join(home, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { subject: string; message: string });

    for (const name of ['input-string', 'input-array']) {
      expect(notObject[name]).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
      expect(notObject[name]?.cause).toContain('must be a JSON object');
      const announced = notifications.filter((n) => n.subject === `Nightshift run ${name} failed: InvalidInputError`);
      expect(announced).toHaveLength(1);
    }
  });

  it('runs a one-line ManifestFile with many bad entries to SUCCEEDED: one row per entry, counts reconcile', () => {
    const counts = summary.run?.counts;

    expect(summary.status).toBe('SUCCEEDED');
    expect(counts?.items).toBe(11);
    expect((counts?.predicted ?? 0) + (counts?.rejected ?? 0)).toBe(11);
    expect(rows).toHaveLength(11);
    expect(new Set(rows.map((row) => row.key)).size).toBe(11);
    expect(counts?.rejectedByReason).toMatchObject({
      MALFORMED_MANIFEST_LINE: 3,
      DUPLICATE: 2,
      UNSUPPORTED_TYPE: 1,
      INVALID_KEY: 1,
      NOT_FOUND: 1,
    });
  });

  it("predicts images whose keys are far longer than a file name may be, up to S3's 1,024 bytes", () => {
    const predicted = rows
      .filter((row) => row.outcome !== 'REJECTED')
      .map((row) => row.key.replace(/^datasets\/[^/]+\//, ''));

    expect(Buffer.byteLength(rows.find((row) => row.key.endsWith(deepName))?.key ?? '')).toBeGreaterThan(900);
    expect(predicted.sort()).toEqual(['a.png', deepName, longName].sort());
  });
});
