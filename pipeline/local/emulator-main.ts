/**
 * Child-process entry that runs one local AWS protocol server: `s3` (s3rver) or `dynamodb` (dynalite).
 * Prints one JSON line `{"port": N}` once it listens on loopback, and exits on SIGTERM/SIGINT or when stdin closes.
 *
 * s3rver runs in its own process because it needs `--openssl-legacy-provider` (its truncated ListObjectsV2
 * answers 500 without it), a flag that cannot be turned on inside an already running Node process.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface Closable {
  close(): Promise<void> | void;
}

async function startS3(directory: string, port: number): Promise<{ port: number; server: Closable }> {
  const S3rver = require('s3rver');
  const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true, allowMismatchedSignatures: true });
  const address = (await server.run()) as { port: number };
  return { port: address.port, server };
}

async function startDynamo(directory: string | undefined, port: number): Promise<{ port: number; server: Closable }> {
  const dynalite = require('dynalite');
  const server = dynalite({ path: directory, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: server.address().port,
    server: { close: () => new Promise<void>((resolve) => server.close(() => resolve())) },
  };
}

async function main(): Promise<void> {
  const [kind, directory, portArg] = process.argv.slice(2);
  const port = Number(portArg ?? '0');
  if ((kind !== 's3' && kind !== 'dynamodb') || !Number.isInteger(port)) {
    process.stderr.write('usage: emulator-main.ts s3|dynamodb <directory|-> [port]\n');
    process.exit(2);
  }
  const dir = directory && directory !== '-' ? directory : undefined;
  if (kind === 's3' && !dir) {
    process.stderr.write('the S3 server needs a directory to keep objects in\n');
    process.exit(2);
  }
  const started = kind === 's3' ? await startS3(dir as string, port) : await startDynamo(dir, port);
  const stop = async () => {
    await started.server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent holds our stdin open; when it dies without signalling, we go too (no orphaned servers).
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ port: started.port })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
