import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** `e_machine` of an ELF file (bytes 18-19, little-endian): 183 is AArch64, 62 is x86-64. */
const ELF_MACHINE_AARCH64 = 183;
function elfMachine(path: string): number {
  const header = readFileSync(path).subarray(0, 20);
  expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return header.readUInt16LE(18);
}

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
    const preprocess = bundles.find((path) => existsSync(join(path, 'node_modules', 'sharp', 'package.json')));
    // The preprocess function runs on arm64 (shared/stage-sizing.ts): its bundle carries sharp's linux-arm64 addon
    // and libvips, aarch64 ELF files, and no x64 build.
    const native = join(preprocess ?? '', 'node_modules', '@img');
    expect(readdirSync(native).sort()).toEqual(['colour', 'sharp-libvips-linux-arm64', 'sharp-linux-arm64']);
    const addon = join(native, 'sharp-linux-arm64', 'lib', 'sharp-linux-arm64-0.35.5.node');
    const libvips = readdirSync(join(native, 'sharp-libvips-linux-arm64', 'lib')).find((name) =>
      name.endsWith('.so.8.18.7'),
    );
    expect(elfMachine(addon)).toBe(ELF_MACHINE_AARCH64);
    expect(elfMachine(join(native, 'sharp-libvips-linux-arm64', 'lib', libvips ?? 'missing'))).toBe(
      ELF_MACHINE_AARCH64,
    );
    expect(bundles.some((path) => existsSync(join(path, 'chart.umd.js')))).toBe(true);
    expect(Object.keys(manifest.dockerImages ?? {})).toHaveLength(1);
    const modelArchive = readdirSync(out).find((name) => name.endsWith('.tar.gz'));
    expect(modelArchive).toBeDefined();
  }, 180_000);
});
