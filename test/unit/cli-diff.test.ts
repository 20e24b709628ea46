import { describe, expect, it } from 'vitest';
import type { LocalRunBackend, LocalRunBackendModule } from '../../pipeline/run-backend/run-backend.ts';
import type { OutcomeRecord } from '../../shared/records.ts';
import { runCli } from '../helpers/cli-harness.ts';

function predicted(runId: string, key: string, text: string, expected: string): OutcomeRecord {
  return {
    runId,
    key,
    bucket: 'd',
    outcome: 'PREDICTED',
    modelName: 'm',
    modelVersion: '1',
    text,
    confidence: 0.9,
    expected,
    match: text === expected,
    part: 'p',
    updatedAt: 't',
  };
}

/** An in-process backend serving rows from a list (the real ones are covered by the report stage's diff test). */
function backendWith(rows: readonly OutcomeRecord[]): { loadLocalBackend: () => Promise<LocalRunBackendModule> } {
  const unused = async (): Promise<never> => {
    throw new Error('not asked');
  };
  const backend: LocalRunBackend = {
    selector: ' --local',
    where: async () => 'the local servers',
    demo: unused,
    runSource: unused,
    start: unused,
    watch: unused,
    redrive: unused,
    runs: unused,
    status: unused,
    report: unused,
    logs: unused,
    predictions: async (runId) =>
      (async function* () {
        yield* rows.filter((row) => row.runId === runId);
      })(),
    close: async () => {},
  };
  return { loadLocalBackend: async () => ({ createLocalRunBackend: () => backend }) };
}

describe('nightshift diff (in-process backend)', () => {
  const rows = [
    predicted('night-1', 'a.jpg', 'STOP', 'STOP'),
    predicted('night-1', 'b.jpg', 'EXIT', 'EXIT'),
    predicted('night-2', 'a.jpg', 'STOP', 'STOP'),
    predicted('night-2', 'b.jpg', 'EX1T', 'EXIT'),
  ];

  it('prints both runs side by side and the object whose text changed', async () => {
    const result = await runCli(['diff', 'night-1', 'night-2', '--local'], { deps: backendWith(rows) });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/accuracy\s+100\.0%\s+50\.0%/);
    expect(result.stdout).toContain('1 of 2 objects in both runs changed answer');
    expect(result.stdout).toMatch(/b\.jpg\s+EXIT\s+EX1T/);
  });

  it('answers --json with the diff document', async () => {
    const result = await runCli(['diff', 'night-1', 'night-2', '--local', '--json'], { deps: backendWith(rows) });

    expect(JSON.parse(result.stdout)).toMatchObject({
      before: { runId: 'night-1', accuracy: 1 },
      after: { runId: 'night-2', accuracy: 0.5 },
      changed: 1,
      changes: [{ key: 'b.jpg', before: { text: 'EXIT' }, after: { text: 'EX1T' } }],
    });
  });
});
