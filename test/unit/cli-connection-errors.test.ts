import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { LocalRunBackend } from '../../pipeline/run-backend/run-backend.ts';
import { runCli } from '../helpers/cli-harness.ts';

/** A real refused connect: a port that was listening a moment ago and is closed now. */
async function refusedConnection(): Promise<{ error: Error; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  const error = await new Promise<Error>((resolve) => connect({ host: '127.0.0.1', port }).once('error', resolve));
  return { error, port };
}

describe('the CLI never prints a bare connect ECONNREFUSED (in-process backend that throws a real refused connect)', () => {
  it('says in words which endpoint refused, naming the command', async () => {
    const { error, port } = await refusedConnection();
    const failing = async (): Promise<never> => {
      throw error;
    };
    const backend = { selector: ' --local', demo: failing, close: async () => {} } as unknown as LocalRunBackend;

    const result = await runCli(['demo', '--state-dir', 'state'], {
      deps: { loadLocalBackend: async () => ({ createLocalRunBackend: () => backend }) },
    });

    expect(error.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`nightshift demo failed: the connection to 127.0.0.1:${port} was refused`);
    expect(result.stderr).not.toContain('ECONNREFUSED');
  });
});
