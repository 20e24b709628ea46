import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('npm run synth', () => {
  const out = mkdtempSync(join(tmpdir(), 'nightshift-cdk-out-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes the cloud assembly offline, bundling every stage locally without Docker', async () => {
    // DOCKER_HOST pointing nowhere proves no step talks to a Docker engine.
    await run('npm', ['run', '--silent', 'synth', '--', '--output', out], {
      env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock', CDK_DISABLE_VERSION_CHECK: '1' },
      maxBuffer: 64 * 1024 * 1024,
    });

    const manifest = JSON.parse(readFileSync(join(out, 'Nightshift.assets.json'), 'utf8'));
    const bundles = Object.values(manifest.files as Record<string, { source: { path: string } }>)
      .map((file) => join(out, file.source.path))
      .filter((path) => existsSync(join(path, 'index.mjs')));
    expect(existsSync(join(out, 'Nightshift.template.json'))).toBe(true);
    expect(bundles).toHaveLength(6);
    expect(bundles.some((path) => existsSync(join(path, 'node_modules', 'sharp', 'package.json')))).toBe(true);
    expect(bundles.some((path) => existsSync(join(path, 'node_modules', '@img', 'sharp-linux-x64')))).toBe(true);
    expect(bundles.some((path) => existsSync(join(path, 'chart.umd.js')))).toBe(true);
    expect(Object.keys(manifest.dockerImages ?? {})).toHaveLength(1);
    const modelArchive = readdirSync(out).find((name) => name.endsWith('.tar.gz'));
    expect(modelArchive).toBeDefined();
  }, 180_000);
});
