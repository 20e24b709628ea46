import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionHandle, ExecutionResult } from '../../pipeline/local/engine/index.ts';
import { type LocalRunSummary, runLocalPipeline } from '../../pipeline/local/local-run.ts';
import { LocalRuntime } from '../../pipeline/local/runtime.ts';
import type { OutcomeRecord, RunRecord } from '../../shared/records.ts';
import { renderText } from '../helpers/text-images.ts';

/**
 * One run id, several executions, on the local engine with the real servers and model server: a second execution
 * started while the first runs, and a re-start with other settings after it succeeded. Either is refused, and the
 * run it conflicts with is left exactly as it was, with no notification claiming it failed.
 */
describe('local executions that share a run id', () => {
  const home = mkdtempSync(join(tmpdir(), 'nightshift-ownership-'));
  const quiet = { out: () => undefined, err: () => undefined, isTTY: false };
  const runId = 'shared-id';
  const results: Record<'first' | 'second', ExecutionResult | undefined> = { first: undefined, second: undefined };
  const handles: Partial<Record<'first' | 'second', ExecutionHandle>> = {};
  let afterOverlap: RunRecord | undefined;
  let restart: LocalRunSummary;
  const rows: OutcomeRecord[] = [];
  const notifications = () =>
    readFileSync(join(home, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { subject: string; message: string });

  beforeAll(async () => {
    let input: Record<string, unknown> = {};
    let secondStarted: Promise<ExecutionHandle> | undefined;
    const runtime: LocalRuntime = await LocalRuntime.start({
      home,
      // The second execution starts the moment the first has planned, while its preprocess map runs.
      onProgress: (event) => {
        if (
          event.type === 'StateExited' &&
          event.stateName === 'Plan' &&
          event.executionArn === handles.first?.executionArn &&
          !secondStarted
        ) {
          secondStarted = Promise.resolve(runtime.startRun(`${runId}-again`, input));
        }
      },
    });
    try {
      const images = await Promise.all(
        ['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA'].map(async (word) => ({
          name: `${word.toLowerCase()}.png`,
          body: (await renderText([word])).bytes,
        })),
      );
      await runtime.upload('datasets/ownership/', images);
      input = {
        dataset: `s3://${runtime.stack.pipelineBucket}/datasets/ownership/`,
        runId,
        preprocess: { batchSize: 1 },
      };
      handles.first = runtime.startRun(runId, input);
      results.first = await handles.first.result();
      handles.second = await secondStarted;
      if (!handles.second) throw new Error('the second execution never started');
      results.second = await handles.second.result();
      await runtime.finalizeEnded(handles.first, results.first, input);
      await runtime.finalizeEnded(handles.second, results.second, input);
      afterOverlap = await runtime.stores.runs.get(runId);
      for await (const row of runtime.stores.predictions.list(runId)) rows.push(row);
    } finally {
      await runtime.stop();
    }

    // `start --local --run-id shared-id` with another batch size: an execution named shared-id again.
    restart = await runLocalPipeline({
      home,
      runId,
      dataset: String(input.dataset),
      preprocess: { batchSize: 2 },
      io: quiet,
    });
  }, 400_000);
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('refuses the second execution while the first is RUNNING, and the first finishes untouched', () => {
    expect(results.first).toMatchObject({ status: 'SUCCEEDED' });
    expect(results.second).toMatchObject({ status: 'FAILED', error: 'RunConflictError' });
    expect(results.second?.cause).toMatch(/run id "shared-id" is RUNNING in execution .*:shared-id/);
    expect(afterOverlap).toMatchObject({
      status: 'SUCCEEDED',
      executionId: handles.first?.executionArn,
      counts: { items: 4 },
    });
    expect(afterOverlap?.error).toBeUndefined();
    expect(rows).toHaveLength(4);
    expect(new Set(rows.map((row) => row.key)).size).toBe(4);
  });

  it('refuses a re-start with other settings and leaves the SUCCEEDED run exactly as it was', () => {
    expect(restart).toMatchObject({ status: 'FAILED', error: 'RunConflictError' });
    expect(restart.cause).toMatch(/already exists with a different dataset or settings/);
    expect(restart.run).toEqual(afterOverlap);
  });

  it('sends no notification that claims the run failed; each refused start is announced as refused', () => {
    const sent = notifications();

    expect(sent.filter((n) => /failed/i.test(n.subject))).toEqual([]);
    const refused = sent.filter(
      (n) => n.subject === `Nightshift run ${runId}: a new start was refused; the run is unchanged`,
    );
    expect(refused).toHaveLength(2);
    expect(refused[0]?.message).toContain(`Execution ${handles.second?.executionArn} was refused`);
  });
});
