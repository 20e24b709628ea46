import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharpBundlePackages } from '../../infra/stage-functions.ts';

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

  it('is installed by `npm ci` itself: the root postinstall runs the arm64 install with the platform overrides', () => {
    const { scripts } = json('package.json');

    expect(scripts.postinstall).toContain('npm run -s install:sharp-linux-arm64');
    expect(scripts['install:sharp-linux-arm64']).toBe(
      'npm ci --prefix infra/sharp-linux-arm64 --os=linux --cpu=arm64 --libc=glibc --ignore-scripts --no-audit --no-fund',
    );
  });

  it('is what synth copies for an arm64 function, and the x64 build for an x86_64 one', () => {
    const names = (architecture: 'arm64' | 'x86_64') => sharpBundlePackages(architecture).map(({ name }) => name);

    expect(names('arm64')).toEqual(['sharp', '@img/colour', 'detect-libc', 'semver', ...ARM64_PACKAGES]);
    expect(sharpBundlePackages('arm64').at(-1)?.from).toMatch(/infra\/sharp-linux-arm64\/node_modules\/@img\//);
    expect(names('x86_64')).toContain('@img/sharp-linux-x64');
  });
});
