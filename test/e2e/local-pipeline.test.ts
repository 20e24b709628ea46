import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoServer } from '../../pipeline/local/emulators.ts';
import { type LocalRunSummary, runLocalPipeline } from '../../pipeline/local/local-run.ts';
import { createLocalRunBackend } from '../../pipeline/local/local-run-backend.ts';
import type { CliIo } from '../../pipeline/run-backend/run-backend.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import { runLayout } from '../../shared/layout.ts';
import { systemClock } from '../../shared/ports.ts';
import type { OutcomeRecord } from '../../shared/records.ts';

/**
 * The whole pipeline on this machine, as `npm run demo` runs it: the synthesized state machine in the local engine,
 * the real stage handlers, the local S3/DynamoDB servers, the real OCR model server and the local batch transform,
 * over the generated sample (rendered text images plus broken files).
 */
describe('a local run of the synthesized pipeline on generated images', () => {
  const home = mkdtempSync(join(tmpdir(), 'nightshift-e2e-'));
  const runId = 'e2e-sample';
  const quiet = { out: () => undefined, err: () => undefined, isTTY: false };
  let first: LocalRunSummary;
  let second: LocalRunSummary;
  let failed: LocalRunSummary;

  beforeAll(async () => {
    first = await runLocalPipeline({ home, runId, io: quiet });
    second = await runLocalPipeline({ home, runId, io: quiet });
    const names = JSON.parse(readFileSync(join(home, 'local-names.json'), 'utf8'));
    failed = await runLocalPipeline({
      home,
      runId: 'e2e-missing-manifest',
      dataset: `s3://${names.pipelineBucket}/datasets/nowhere/manifest.jsonl`,
      io: quiet,
    });
  }, 400_000);
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  /** The CLI's local backend on this test's state directory. */
  const localBackend = (io: CliIo) =>
    createLocalRunBackend({
      io,
      json: true,
      stateDir: home,
      projectRoot: home,
      clock: systemClock,
      sleep: async () => undefined,
    });

  it('succeeds and writes report files that exist and parse', () => {
    expect(first.status).toBe('SUCCEEDED');
    expect(first.run?.status).toBe('SUCCEEDED');
    const reportDir = join(home, 'reports', runId);
    const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8'));
    const csv = readFileSync(join(reportDir, 'predictions.csv'), 'utf8').trimEnd().split('\n');
    expect(report.counts).toEqual(first.run?.counts);
    expect(csv).toHaveLength((first.run?.counts?.items ?? 0) + 1);
    expect(readFileSync(join(reportDir, 'report.html'), 'utf8')).toContain('<canvas');
    expect(Object.keys(report.stageTimes).sort()).toEqual(['aggregate', 'plan', 'preprocess', 'report', 'transform']);
  });

  it("deletes the succeeded run's transform input and keeps its index, output and thumbnail packs (the local S3's files)", () => {
    const names = JSON.parse(readFileSync(join(home, 'local-names.json'), 'utf8'));
    const objectsUnder = (prefix: string) => {
      const folder = join(home, 's3', names.pipelineBucket, prefix);
      if (!existsSync(folder)) return [];
      return readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((name) =>
        name.endsWith('._S3rver_object'),
      );
    };

    expect(objectsUnder(runLayout.transformInput(runId))).toEqual([]);
    expect(objectsUnder(runLayout.transformIndex(runId)).length).toBeGreaterThan(0);
    expect(objectsUnder(runLayout.transformOutput(runId)).length).toBeGreaterThan(0);
    expect(objectsUnder(runLayout.thumbnails(runId)).length).toBe(objectsUnder(runLayout.transformIndex(runId)).length);
    // The report found the shown rows' thumbnails in those packs.
    expect(readFileSync(join(home, 'reports', runId, 'report.html'), 'utf8')).toMatch(
      /"thumbnail":"data:image\/webp;base64,/,
    );
  });

  it('ends every input as one prediction or one rejection, and the counts reconcile', () => {
    const counts = first.run?.counts;

    expect(counts?.items).toBe(55);
    // Every clean image is read: text found (PREDICTED), or none above the model's thresholds (NO_TEXT, a miss).
    expect((counts?.predicted ?? 0) + (counts?.noText ?? 0)).toBe(50);
    expect(counts?.noText ?? 0).toBeLessThanOrEqual(5);
    expect(counts?.rejected).toBe(5);
    expect(counts?.rejectedByReason).toEqual({
      EMPTY_OBJECT: 1,
      CORRUPT_IMAGE: 1,
      NOT_AN_IMAGE: 1,
      UNSUPPORTED_TYPE: 1,
      TOO_MANY_PIXELS: 1,
    });
  });

  it('reads the expected text exactly for at least 90% of the clean images', () => {
    expect(first.accuracy?.withExpected).toBe(50);
    expect(first.accuracy?.rate).toBeGreaterThanOrEqual(0.9);
  });

  it('is idempotent: a second identical run gives the same counts and no duplicate rows', async () => {
    expect(second.status).toBe('SUCCEEDED');
    expect(second.run?.counts).toEqual(first.run?.counts);
    // Read the rows straight from the persisted DynamoDB state the runs left behind.
    const server = await startDynamoServer({ directory: join(home, 'dynamodb') });
    try {
      const names = JSON.parse(readFileSync(join(home, 'local-names.json'), 'utf8'));
      const client = new DynamoDBClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      });
      const rows: OutcomeRecord[] = [];
      for await (const row of new DynamoPredictionStore(
        DynamoDBDocumentClient.from(client),
        names.predictionsTable,
      ).list(runId))
        rows.push(row);
      client.destroy();
      expect(rows).toHaveLength(55);
      expect(new Set(rows.map((row) => row.key)).size).toBe(55);
    } finally {
      await server.stop();
    }
    expect(existsSync(join(home, 'local-endpoints.json'))).toBe(false);
  });

  it('fails a run with a missing manifest through finalize-failure: run record FAILED, notification written', () => {
    const notifications = readFileSync(join(home, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));

    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('DatasetAccessError');
    expect(notifications.at(-1)).toMatchObject({
      subject: 'Nightshift run e2e-missing-manifest failed: DatasetAccessError',
    });
    expect(notifications.at(-1).message).toContain('datasets/nowhere/manifest.jsonl does not exist');
    // Finalized once: by the state machine's Catch path; the execution-status path saw it done and stayed quiet.
    expect(notifications.filter((n) => n.subject.includes('e2e-missing-manifest'))).toHaveLength(1);
  });

  it('keeps every stage log line in logs/stages.jsonl, as JSON with the stage and the run id', () => {
    const lines = readFileSync(join(home, 'logs', 'stages.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const messages = (stage: string, run: string) =>
      lines.filter((line) => line.stage === stage && line.runId === run).map((line) => line.message);

    for (const line of lines) expect(line).toMatchObject({ service: 'nightshift', stage: expect.any(String) });
    expect(messages('plan', runId)).toContain('planned');
    expect(messages('preprocess', runId)).toContain('preprocessed a batch');
    expect(messages('aggregate', runId)).toContain('aggregated');
    expect(messages('report', runId)).toContain('report written');
    // The failed run: the plan's failure in one form, then finalize-failure marking the run.
    expect(messages('plan', 'e2e-missing-manifest')).toContain('plan failed');
    expect(messages('finalize-failure', 'e2e-missing-manifest')).toContain('run failed');
  });

  it('starts a run through the local backend (`nightshift start --local`) with an input validated like the AWS one', async () => {
    const names = JSON.parse(readFileSync(join(home, 'local-names.json'), 'utf8'));
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: () => undefined, isTTY: false, env: {}, cwd: home };
    const input = parseExecutionInput({
      dataset: `s3://${names.pipelineBucket}/datasets/demo/manifest.jsonl`,
      runId: 'e2e-start',
    });

    const code = await localBackend(io).start({
      input,
      name: 'e2e-start',
      wait: true,
      timeoutMs: 60_000,
    });

    expect(code).toBe(0);
    expect(JSON.parse(out.join(''))).toMatchObject({
      runId: 'e2e-start',
      status: 'SUCCEEDED',
      run: { counts: { items: 55 } },
    });
  }, 120_000);

  it('redrives a failed run through the local backend (`nightshift redrive --local`): it runs again and is announced again', async () => {
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: () => undefined, isTTY: false, env: {}, cwd: home };

    const code = await localBackend(io).redrive({ run: 'e2e-missing-manifest', wait: true, timeoutMs: 60_000 });
    const refused = localBackend(io).redrive({ run: runId, wait: true, timeoutMs: 60_000 });

    expect(code).toBe(1);
    expect(JSON.parse(out.join(''))).toMatchObject({
      runId: 'e2e-missing-manifest',
      status: 'FAILED',
      error: 'DatasetAccessError',
    });
    await expect(refused).rejects.toThrow(/is SUCCEEDED; only FAILED runs can be redriven/);
    const notifications = readFileSync(join(home, 'notifications.jsonl'), 'utf8').trim().split('\n');
    expect(notifications.filter((line) => line.includes('Nightshift run e2e-missing-manifest failed'))).toHaveLength(2);
  }, 120_000);
});
