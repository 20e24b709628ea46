import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalPipeline } from '../../pipeline/local/local-run.ts';
import { ManifestError } from '../../shared/errors.ts';
import { sceneImage } from '../helpers/images.ts';

/**
 * A local manifest names files relative to its folder; `run --local` must not read (and copy into local S3) files
 * outside that folder, through `..`, absolute paths or symlinks.
 */
describe('local manifests stay inside their folder', () => {
  let root: string;
  let data: string;
  const quiet = { out: () => undefined, err: () => undefined, isTTY: false };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'nightshift-scope-'));
    data = join(root, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(root, 'secret.png'), await sceneImage(32, 32, 'png'));
    await writeFile(join(data, 'ok.png'), await sceneImage(32, 32, 'png'));
    await symlink(join(root, 'secret.png'), join(data, 'sub', 'link.png'));
    await symlink(join(data, 'ok.png'), join(data, 'inside-link.png'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a JSONL manifest naming ../, absolute or symlinked files outside, before starting or reading anything', async () => {
    const manifest = join(data, 'escape.jsonl');
    const lines = [
      'ok.png',
      '../secret.png',
      join(root, 'secret.png'),
      'sub/link.png',
      'inside-link.png',
      'sub/../ok.png',
    ];
    await writeFile(manifest, lines.map((key) => JSON.stringify({ key })).join('\n'));
    const home = join(root, 'home-jsonl');

    const attempt = runLocalPipeline({ home, source: manifest, io: quiet });

    await expect(attempt).rejects.toThrow(ManifestError);
    await expect(attempt).rejects.toThrow(/line 2: \.\.\/secret\.png/);
    await expect(attempt).rejects.toThrow(/line 3: .*secret\.png is an absolute path/);
    await expect(attempt).rejects.toThrow(/line 4: sub\/link\.png is a link to .*secret\.png/);
    await expect(attempt).rejects.toThrow(/line 6: sub\/\.\.\/ok\.png/);
    await expect(attempt).rejects.not.toThrow(/line 5/);
    expect(existsSync(join(home, 's3'))).toBe(false);
  });

  it('refuses a SageMaker ManifestFile entry that leaves the folder, naming its entry', async () => {
    const manifest = join(data, 'escape.json');
    await writeFile(manifest, JSON.stringify([{ prefix: 's3://ignored/' }, 'ok.png', '../secret.png']));
    const home = join(root, 'home-json');

    const attempt = runLocalPipeline({ home, source: manifest, io: quiet });

    await expect(attempt).rejects.toThrow(/line 1 entry 2: \.\.\/secret\.png/);
    expect(existsSync(join(home, 's3'))).toBe(false);
  });
});
