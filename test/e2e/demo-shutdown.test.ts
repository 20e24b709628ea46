import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** Process ids of every descendant of `pid` (children, grandchildren), from `ps`. */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString().trim().split('\n');
  const children = new Map<number, number[]>();
  for (const row of table) {
    const [child, parent] = row.trim().split(/\s+/).map(Number) as [number, number];
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('nightshift demo shuts every child process down', () => {
  const home = mkdtempSync(join(tmpdir(), 'nightshift-shutdown-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('on Ctrl-C during a run: the S3, DynamoDB and model servers all exit with it', async () => {
    const demo = spawn(process.execPath, ['bin/nightshift.mjs', 'demo', '--state-dir', home], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const children = await new Promise<number[]>((resolve, reject) => {
      demo.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        // The run has started: servers and model server are up.
        if (stderr.includes('Run demo-')) resolve(descendants(demo.pid ?? -1));
      });
      demo.once('exit', (code) => reject(new Error(`demo exited (${code}) before the run started: ${stderr}`)));
    });

    demo.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => demo.once('exit', resolve));

    expect(children.length).toBeGreaterThanOrEqual(3);
    expect(code).not.toBe(0);
    expect(stderr).toContain('Interrupted: stopping the run and every server');
    // Children exit when their parent goes (SIGTERM, or stdin closing); give them a moment.
    for (let i = 0; i < 50 && children.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    const left = children.filter(alive).map((pid) => {
      try {
        return execFileSync('ps', ['-o', 'args=', '-p', String(pid)])
          .toString()
          .trim();
      } catch {
        return String(pid);
      }
    });
    expect(left).toEqual([]);
  }, 180_000);
});
