/**
 * Runs a workload on `aws-local-stepfunctions` (which needs Node 22) for `bench/engine.bench.ts`, in a child
 * process started with a Node >= 22 binary (BENCH_NODE22, or the Node running the benchmark).
 *
 * Usage: `node bench/aws-local-stepfunctions-runner.mjs <workload.json | ->`, where the workload is
 * `{ "definition": {...}, "input": {...} }` (`-`: on the first line of stdin). Each stdin line after it holding a
 * number k runs k executions and prints one JSON line: `{ "ms": [per execution], "sha256": [of each output] }`, so
 * the driver can interleave these executions with its own. A failure prints `{ "error": "..." }` and exits 1.
 * For example: `echo 5 | node bench/aws-local-stepfunctions-runner.mjs workload.json`.
 *
 * Each timed execution constructs the `StateMachine` (the package validates the definition there) and awaits its
 * result: the same span the driver times for our engine (validation, run, output).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { StateMachine } from 'aws-local-stepfunctions';

async function timeExecutions(workload, count) {
  const ms = [];
  const sha256 = [];
  for (let run = 0; run < count; run += 1) {
    const started = performance.now();
    const machine = new StateMachine(workload.definition);
    const output = await machine.run(workload.input).result;
    ms.push(performance.now() - started);
    sha256.push(createHash('sha256').update(JSON.stringify(output)).digest('hex'));
  }
  return { ms, sha256 };
}

async function main() {
  const source = process.argv[2];
  if (source === undefined) throw new Error('usage: aws-local-stepfunctions-runner.mjs <workload.json | ->');
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  const iterator = lines[Symbol.asyncIterator]();
  const text = source === '-' ? (await iterator.next()).value : await readFile(source, 'utf8');
  if (text === undefined) throw new Error('stdin ended before the workload');
  const workload = JSON.parse(text);
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.trim() === '') continue;
    const count = Number(next.value.trim());
    if (!Number.isInteger(count) || count < 1) throw new Error(`expected a number of executions, got "${next.value}"`);
    process.stdout.write(`${JSON.stringify(await timeExecutions(workload, count))}\n`);
  }
}

main().catch((error) => {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })}\n`,
  );
  process.exitCode = 1;
});
