import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalPipeline } from '../../pipeline/local/local-run.ts';
import { CliFailure } from '../../pipeline/run-backend/failures.ts';
import { captureIo, runCli } from '../helpers/cli-harness.ts';
import { sceneImage } from '../helpers/images.ts';

const BIN = fileURLToPath(new URL('../../bin/nightshift.mjs', import.meta.url));

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

describe('run --local reports a wrong source before anything starts (exit 2, one line, no server)', () => {
  let dir: string;
  let stateDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nightshift-mistakes-'));
    stateDir = join(dir, 'state');
    await mkdir(join(dir, 'empty', 'sub'), { recursive: true });
    await writeFile(join(dir, 'empty', '.DS_Store'), 'x');
    await writeFile(join(dir, 'photo.png'), await sceneImage(16, 16, 'png'));
    await writeFile(join(dir, 'notes.txt'), 'a.jpg\nb.jpg\n');
    await writeFile(join(dir, 'keys.jsonl'), 'a.jpg\nb.jpg\n');
    await writeFile(join(dir, 'object.json'), '{"prefix": "s3://b/"}');
    await writeFile(join(dir, 'no-prefix.json'), '["a.jpg", "b.jpg"]');
    await writeFile(join(dir, 'broken.json'), '[{"prefix": "s3://b/"},\n  "a.jpg",\n  "b.jpg"\n');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['missing', 'does not exist: give a folder of images, a JSON Lines manifest'],
    ['empty', 'is an empty folder (no files in it or below it): put images in it or give another folder'],
    ['photo.png', 'is an image, not a folder or a manifest: give the folder that holds it'],
    ['notes.txt', 'is not a manifest (its name does not end in .jsonl, .json or .manifest)'],
    ['keys.jsonl', 'line 1 is not JSON: Unexpected token'],
    ['object.json', 'line 1: a SageMaker ManifestFile is a JSON array, this is not'],
    ['no-prefix.json', 'line 1: the first element of a SageMaker ManifestFile must be {"prefix": "s3://..."}'],
    ['broken.json', 'is not JSON (line 4 column 1: CloseBracketExpected)'],
  ])('refuses %s with one line naming it and the fix, without loading the local runtime', async (name, why) => {
    let loaded = false;
    const io = captureIo({ cwd: dir, env: { NO_COLOR: '1' } });

    const result = await runCli(['run', '--local', name, '--state-dir', stateDir], {
      io,
      deps: {
        loadLocalBackend: async () => {
          loaded = true;
          throw new Error('the local runtime must not be loaded');
        },
      },
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^error: ${name.replace('.', '\\.')} `));
    expect(result.stderr).toContain(why);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toContain('--verbose');
    expect(loaded).toBe(false);
    expect(await exists(stateDir)).toBe(false);
  });

  it('says so from the real command under plain node, leaving no state folder or server behind', async () => {
    const run = promisify(execFile)(process.execPath, [BIN, 'run', '--local', 'photo.png'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', NIGHTSHIFT_HOME: stateDir },
    });

    const failure = (await run.catch((error: unknown) => error)) as { code: number; stderr: string; stdout: string };

    expect(failure.code).toBe(2);
    expect(failure.stderr).toBe(
      'error: photo.png is an image, not a folder or a manifest: give the folder that holds it (nightshift run --local .)\n',
    );
    expect(failure.stdout).toBe('');
    expect(await exists(stateDir)).toBe(false);
  });

  it('is checked by the local runtime itself before it starts a server (a CliFailure, not a plain Error)', async () => {
    const io = { out: () => undefined, err: () => undefined, isTTY: false };

    const failure = await runLocalPipeline({ home: stateDir, source: join(dir, 'no-prefix.json'), io }).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(CliFailure);
    expect((failure as CliFailure).code).toBe('INVALID_SOURCE');
    expect(await exists(stateDir)).toBe(false);
  });
});
