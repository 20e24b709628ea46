import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/nightshift.mjs', import.meta.url));

describe('bin/nightshift.mjs', () => {
  it('runs the TypeScript CLI under plain node and prints the help', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, '--help'], {
      env: { ...process.env, NO_COLOR: '1' },
    });

    expect(stdout).toMatch(/^Usage: nightshift COMMAND \[options\]\n/);
    expect(stdout).toMatch(/^ {2}predictions\s+Read a run's predictions/m);
    expect(stderr).not.toMatch(/error/i);
  });
});
