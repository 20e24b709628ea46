// Installs sharp's linux-arm64 packages (the preprocess Lambda's native addon and libvips) into
// infra/sharp-linux-arm64/node_modules when they are missing or not the versions pinned beside this file.
//
// Why a separate install: npm skips optional packages whose os/cpu/libc do not match the machine, and its
// --os/--cpu/--libc overrides apply to a whole install (docs/decisions.md, "sharp for linux-arm64"). Why not a
// postinstall: the project's .npmrc sets ignore-scripts (onnxruntime-node's install script would download CUDA
// binaries), so `cdk synth` runs this first (cdk.json `app`) and `.ci/run` runs it after `npm ci`. It reaches only
// the npm registry, like `npm ci`, and does nothing when the packages are already there.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).optionalDependencies;

function installedVersion(name) {
  const file = join(here, 'node_modules', name, 'package.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : undefined;
}

const stale = Object.entries(pinned).filter(([name, version]) => installedVersion(name) !== version);
if (stale.length > 0) {
  // stderr only: a cdk app's stdout is not the place for install output.
  process.stderr.write(`Installing sharp for linux-arm64 (${stale.map(([n, v]) => `${n}@${v}`).join(', ')})\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['ci', '--prefix', here, '--os=linux', '--cpu=arm64', '--libc=glibc'];
  const result = spawnSync(npm, [...args, '--ignore-scripts', '--no-audit', '--no-fund'], {
    stdio: ['ignore', process.stderr, process.stderr],
  });
  const missing = Object.keys(pinned).filter((name) => installedVersion(name) !== pinned[name]);
  if (result.status !== 0 || missing.length > 0) {
    process.stderr.write(
      `Could not install ${missing.join(', ')} into ${join(here, 'node_modules')} from the npm registry ` +
        `(npm exit ${result.status}). The preprocess Lambda (arm64) needs them in its bundle; check your npm ` +
        'registry access and run `npm run install:sharp-linux-arm64` again.\n',
    );
    process.exit(1);
  }
}
