import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStageLogger, forRun } from '../../shared/logging.ts';

describe('structured logs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes one JSON object per line carrying the stage and the run id', () => {
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const log = forRun(createStageLogger({ stage: 'plan' }), 'run-42');

    log.info('planned', { items: 3 });
    log.warn('rejected', { key: 'a.txt', reason: 'UNSUPPORTED_TYPE' });

    const parsed = lines
      .flatMap((chunk) => chunk.split('\n').filter((line) => line.trim() !== ''))
      .map((line) => JSON.parse(line));
    expect(parsed).toHaveLength(2);
    for (const entry of parsed) expect(entry).toMatchObject({ stage: 'plan', runId: 'run-42', service: 'nightshift' });
    expect(parsed[0]).toMatchObject({ message: 'planned', items: 3, level: 'INFO' });
    expect(parsed[1]).toMatchObject({ message: 'rejected', reason: 'UNSUPPORTED_TYPE', level: 'WARN' });
  });
});
