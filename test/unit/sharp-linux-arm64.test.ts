import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharpBundleCommands, sharpBundlePackages } from '../../infra/stage-functions.ts';

const json = (path: string) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'));
const ARM64_PACKAGES = ['@img/sharp-linux-arm64', '@img/sharp-libvips-linux-arm64'];

describe("sharp's linux-arm64 packages for the preprocess bundle", () => {
  it('pins the very versions the installed sharp asks for, with the integrity of the root lockfile', () => {
    const sharp = json('node_modules/sharp/package.json');
    const arm64 = json('infra/sharp-linux-arm64/package.json');
    const arm64Lock = json('infra/sharp-linux-arm64/package-lock.json');
    const rootLock = json('package-lock.json');

    for (const name of ARM64_PACKAGES) {
      expect(arm64.optionalDependencies[name], name).toBe(sharp.optionalDependencies[name]);
      const locked = arm64Lock.packages[`node_modules/${name}`];
      expect(locked.version, name).toBe(sharp.optionalDependencies[name]);
      expect(locked.integrity, name).toBe(rootLock.packages[`node_modules/${name}`].integrity);
    }
  });

  it('is installed before every synth (cdk.json) and in CI, since .npmrc turns install scripts off', () => {
    const { scripts } = json('package.json');
    const npmrc = readFileSync(new URL('../../.npmrc', import.meta.url), 'utf8');
    const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');

    expect(npmrc).toMatch(/^ignore-scripts=true$/m);
    expect(scripts['install:sharp-linux-arm64']).toBe('node infra/sharp-linux-arm64/ensure.mjs');
    expect(json('cdk.json').app).toMatch(/^node infra\/sharp-linux-arm64\/ensure\.mjs && /);
    expect(ci).toMatch(/npm ci [^\n]*\n(?:#[^\n]*\n)*npm run --silent install:sharp-linux-arm64\n/);
  });

  describe('ensure.mjs (a fake `npm` on PATH records what it is asked)', () => {
    const dirs: string[] = [];
    afterAll(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    /** A copy of the install folder, with `installed` versions in node_modules, and a fake npm that logs its args. */
    function setUp(installed: Record<string, string>, npmExit: number) {
      const dir = mkdtempSync(join(tmpdir(), 'nightshift-sharp-arm64-'));
      dirs.push(dir);
      const folder = join(dir, 'sharp-linux-arm64');
      mkdirSync(folder);
      for (const file of ['ensure.mjs', 'package.json']) {
        copyFileSync(new URL(`../../infra/sharp-linux-arm64/${file}`, import.meta.url), join(folder, file));
      }
      for (const [name, version] of Object.entries(installed)) {
        mkdirSync(join(folder, 'node_modules', name), { recursive: true });
        writeFileSync(join(folder, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
      }
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'npm'), `#!/bin/sh\necho "$@" >> "${join(dir, 'npm.log')}"\nexit ${npmExit}\n`);
      chmodSync(join(bin, 'npm'), 0o755);
      const run = spawnSync(process.execPath, [join(folder, 'ensure.mjs')], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        encoding: 'utf8',
      });
      const log = existsSync(join(dir, 'npm.log')) ? readFileSync(join(dir, 'npm.log'), 'utf8') : '';
      return { folder, run, log };
    }

    it('does nothing when the pinned versions are installed', () => {
      const pinned = json('infra/sharp-linux-arm64/package.json').optionalDependencies;
      const { run, log } = setUp(pinned, 0);

      expect(run.status).toBe(0);
      expect(log).toBe('');
    });

    it('installs with the linux/arm64/glibc overrides when a version differs, and names the packages on failure', () => {
      const { folder, run, log } = setUp({ '@img/sharp-linux-arm64': '0.0.1' }, 1);

      expect(log).toContain(`ci --prefix ${folder} --os=linux --cpu=arm64 --libc=glibc --ignore-scripts`);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('Could not install @img/sharp-libvips-linux-arm64, @img/sharp-linux-arm64');
      expect(run.stderr).toContain('npm run install:sharp-linux-arm64');
    });
  });

  it('is what synth copies for an arm64 function, and the x64 build for an x86_64 one', () => {
    const names = (architecture: 'arm64' | 'x86_64') => sharpBundlePackages(architecture).map(({ name }) => name);

    expect(names('arm64')).toEqual(['sharp', '@img/colour', 'detect-libc', 'semver', ...ARM64_PACKAGES]);
    expect(sharpBundlePackages('arm64').at(-1)?.from).toMatch(/infra\/sharp-linux-arm64\/node_modules\/@img\//);
    expect(names('x86_64')).toContain('@img/sharp-linux-x64');
  });

  it('checks for the packages when bundling runs, not when the commands are built (a local synth skips bundling)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nightshift-bundle-'));
    try {
      const present = join(dir, 'present');
      mkdirSync(present);
      writeFileSync(join(present, 'index.js'), '');
      const missing = join(dir, 'not-installed');
      const out = join(dir, 'out');
      const packages = [
        { name: 'sharp', from: present },
        { name: '@img/sharp-linux-arm64', from: missing },
      ];

      // Building the commands does not look at the disk.
      const commands = sharpBundleCommands(out, 'arm64', packages);
      const run = spawnSync('sh', ['-c', commands.join(' && ')], { encoding: 'utf8' });

      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`needs @img/sharp-linux-arm64 at ${missing}; run npm run install:sharp-linux-arm64`);
      expect(existsSync(join(out, 'node_modules'))).toBe(false);

      const complete = spawnSync('sh', ['-c', sharpBundleCommands(out, 'arm64', packages.slice(0, 1)).join(' && ')]);
      expect(complete.status).toBe(0);
      expect(existsSync(join(out, 'node_modules', 'sharp', 'index.js'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
