/**
 * `npm run bench:aggregate`: the aggregate stage (`runAggregate` over the S3 object store and the DynamoDB prediction
 * store, sharded `runId#n`) against a raw BatchWriteItem loop writing the same rows to the same local DynamoDB
 * server, in one run.
 *
 * - Parts: BENCH_PARTS transform output objects (`.out`, one joined OCR answer per line, with text lines and boxes)
 *   of BENCH_ROWS rows each, and their index objects, in the local S3 server (s3rver); the table is on the local
 *   DynamoDB server (dynalite). Both servers are the ones the tests use (test/helpers/local-aws.ts).
 * - Aggregate, 1 part a call: one part per `runAggregate` call, as the map ran before its ItemBatcher: read the
 *   index and the output, join them, write the rows. The store is built once, as a warm Lambda's is.
 * - Aggregate, BENCH_BATCH parts a call: the map's batch (AGGREGATE_PARTS_PER_CHILD parts in one call), where the
 *   next part's two reads overlap the current part's last writes.
 * - Raw: the rows that aggregate writes for the same parts (captured in a first pass, with their shard partition
 *   attribute already set), sent as BatchWriteItem calls of 25, one after another, resending any UnprocessedItems.
 *   No S3, no parsing, no marshalling of our own: the floor for writing these rows to this server.
 *
 * Rounds are interleaved BENCH_BATCH parts at a time (the three sides on the same parts, in an order that rotates
 * from group to group and round to round), so the machine's noise falls on every side. Each side's figure is its
 * total over all rounds: rows/s (images/s: one row per image), ms per part (wall), ms of CPU per part in this
 * process (user + system: the client's work, which is what a Lambda function is billed for) and in the two local
 * servers (child processes, read from /proc on Linux: the work each side asks of S3 and DynamoDB). On a machine
 * whose cores are all busy, wall time follows CPU time.
 *
 * Options (environment): BENCH_PARTS (default 40), BENCH_ROWS (rows per part, default 50), BENCH_ROUNDS (default 5),
 * BENCH_BATCH (parts per batched call, default AGGREGATE_PARTS_PER_CHILD).
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoPredictionStore, partitionOf } from '../shared/aws/dynamo-prediction-store.ts';
import { S3ObjectStore } from '../shared/aws/s3-object-store.ts';
import { runLayout } from '../shared/layout.ts';
import { silentLog } from '../shared/logging.ts';
import type { OutcomeRecord } from '../shared/records.ts';
import type { AggregateBatch } from '../shared/stage-events.ts';
import { AGGREGATE_PARTS_PER_CHILD } from '../shared/stage-sizing.ts';
import { BATCH_WRITE_LIMIT, PREDICTIONS_TABLE } from '../shared/tables.ts';
import { type AggregateDeps, runAggregate } from '../stages/aggregate/aggregate.ts';
import { startLocalAws } from '../test/helpers/local-aws.ts';
import { MemoryPredictionStore } from '../test/helpers/memory-stores.ts';

const PARTS = Number(process.env.BENCH_PARTS ?? 40);
const ROWS = Number(process.env.BENCH_ROWS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? AGGREGATE_PARTS_PER_CHILD);
const RUN_ID = 'bench-aggregate';
const PIPELINE = 'bench-pipeline';
const DATA = 'bench-data';

interface Sample {
  wallMs: number;
  cpuMs: number;
  serverCpuMs: number;
  parts: number;
  rows: number;
}

const emptySample = (): Sample => ({ wallMs: 0, cpuMs: 0, serverCpuMs: 0, parts: 0, rows: 0 });

/** This process's children: the local S3 and DynamoDB servers (Linux; none elsewhere). */
function serverPids(): number[] {
  try {
    const list = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    return list.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** User + system CPU of these processes so far, in ms (/proc/PID/stat fields 14 and 15, in 1/100 s). */
function cpuOfMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks * 10;
}

/** One joined output line as the OCR model server and Batch Transform write it (two text lines with boxes). */
function outputLine(id: number, key: string): string {
  const words = ['STOP', 'EXIT 12', 'Main St', 'TOTAL 14.99', 'NO PARKING', 'KA-4411'];
  const first = words[id % words.length] ?? 'STOP';
  const second = words[(id * 7 + 3) % words.length] ?? 'EXIT';
  const box = (y: number): [number, number][] => [
    [40, y],
    [600, y],
    [600, y + 80],
    [40, y + 80],
  ];
  return JSON.stringify({
    id,
    key,
    bucket: DATA,
    expected: `${first} ${second}`,
    geometry: {
      originalWidth: 1920,
      originalHeight: 1080,
      width: 960,
      height: 540,
      scaleX: 0.5,
      scaleY: 0.5,
      offsetX: 0,
      offsetY: 0,
    },
    SageMakerOutput: {
      model: { name: 'paddleocr-ppocrv4', version: '4.0.0' },
      text: `${first} ${second}`,
      confidence: 0.5 + (id % 50) / 100,
      lines: [
        { text: first, confidence: 0.93, box: box(100) },
        { text: second, confidence: 0.88, box: box(260) },
      ],
    },
  });
}

function partName(n: number): string {
  return `part-${String(n * ROWS).padStart(9, '0')}`;
}

/** The rows of one part as the store writes them: every attribute plus the shard partition. */
function rawItems(rows: readonly OutcomeRecord[], shards: number): Record<string, unknown>[] {
  return rows.map((row) => ({
    ...Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined)),
    [PREDICTIONS_TABLE.partitionKey]: partitionOf(row.runId, row.key, shards),
  }));
}

/** The baseline: BatchWriteItem calls of 25, one after another, resending what DynamoDB leaves unprocessed. */
async function rawWrite(doc: DynamoDBDocumentClient, table: string, items: readonly Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += BATCH_WRITE_LIMIT) {
    let pending = items.slice(i, i + BATCH_WRITE_LIMIT).map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  }
}

async function timed(
  sample: Sample,
  rows: number,
  parts: number,
  servers: readonly number[],
  work: () => Promise<unknown>,
): Promise<void> {
  const serverCpu = cpuOfMs(servers);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  sample.serverCpuMs += cpuOfMs(servers) - serverCpu;
  sample.wallMs += wall;
  sample.cpuMs += (used.user + used.system) / 1000;
  sample.parts += parts;
  sample.rows += rows;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const aws = await startLocalAws();
  const servers = serverPids();
  try {
    await aws.createBucket(PIPELINE);
    const { predictionsTable } = await aws.createTables();
    const keys = await Promise.all(
      Array.from({ length: PARTS }, async (_, n) => {
        const keys = Array.from({ length: ROWS }, (_, i) => `images/${String(n * ROWS + i).padStart(7, '0')}.jpg`);
        const key = `${runLayout.transformOutput(RUN_ID)}${partName(n)}.jsonl.out`;
        await aws.s3.send(
          new PutObjectCommand({
            Bucket: PIPELINE,
            Key: `${runLayout.transformIndex(RUN_ID)}${partName(n)}.json`,
            Body: JSON.stringify(keys.map((k, i) => ({ id: n * ROWS + i, key: k, bucket: DATA }))),
          }),
        );
        await aws.s3.send(
          new PutObjectCommand({
            Bucket: PIPELINE,
            Key: key,
            Body: `${keys.map((k, i) => outputLine(n * ROWS + i, k)).join('\n')}\n`,
          }),
        );
        return key;
      }),
    );

    const objects = new S3ObjectStore(aws.s3);
    const clock = { now: () => new Date() };
    const batchOf = (keys: readonly string[]): AggregateBatch => ({
      Items: keys.map((key) => ({ key })),
      BatchInput: { runId: RUN_ID, pipelineBucket: PIPELINE },
    });
    // The rows the raw loop writes: what aggregate writes for each part, captured once.
    const captured = new MemoryPredictionStore();
    const itemsOf: Record<string, unknown>[][] = [];
    for (const key of keys) {
      captured.rows.clear();
      await runAggregate(batchOf([key]), { objects, predictions: captured, clock, log: silentLog });
      itemsOf.push(rawItems([...captured.rows.values()], PREDICTIONS_TABLE.shards));
    }
    const predictions = new DynamoPredictionStore(aws.doc, predictionsTable);
    const deps: AggregateDeps = { objects, predictions, clock, log: silentLog };
    const groups = Array.from({ length: Math.ceil(PARTS / BATCH) }, (_, g) => ({
      keys: keys.slice(g * BATCH, (g + 1) * BATCH),
      items: itemsOf.slice(g * BATCH, (g + 1) * BATCH),
    }));
    // Warm-up: connections, the run's layout row, JIT.
    for (const group of groups.slice(0, 2)) {
      await runAggregate(batchOf(group.keys), deps);
      for (const key of group.keys) await runAggregate(batchOf([key]), deps);
      for (const items of group.items) await rawWrite(aws.doc, predictionsTable, items);
    }

    console.log(
      `bench:aggregate: ${PARTS} parts x ${ROWS} rows, ${ROUNDS} rounds interleaved ${BATCH} parts at a time; ` +
        `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load ${loadavg()[0]?.toFixed(1)}`,
    );
    const single = emptySample();
    const batched = emptySample();
    const raw = emptySample();
    const roundRatios: { single: number; batched: number }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const sides = { single: emptySample(), batched: emptySample(), raw: emptySample() };
      for (const [g, group] of groups.entries()) {
        const rows = group.items.reduce((sum, items) => sum + items.length, 0);
        const parts = group.keys.length;
        const runs = [
          // One part a call, as the map ran before ItemBatcher: one Lambda invocation per .out object.
          () =>
            timed(sides.single, rows, parts, servers, async () => {
              for (const key of group.keys) await runAggregate(batchOf([key]), deps);
            }),
          // The map's batch: BATCH parts in one call, the next part's reads overlapping the current one's writes.
          () => timed(sides.batched, rows, parts, servers, () => runAggregate(batchOf(group.keys), deps)),
          () =>
            timed(sides.raw, rows, parts, servers, async () => {
              for (const items of group.items) await rawWrite(aws.doc, predictionsTable, items);
            }),
        ];
        // Rotate the order, so the machine's noise and any warm-up falls on every side.
        for (let i = 0; i < runs.length; i += 1) await runs[(g + round + i) % runs.length]?.();
      }
      roundRatios.push({
        single: sides.raw.wallMs / sides.single.wallMs,
        batched: sides.raw.wallMs / sides.batched.wallMs,
      });
      for (const [total, part] of [
        [single, sides.single],
        [batched, sides.batched],
        [raw, sides.raw],
      ] as const) {
        total.wallMs += part.wallMs;
        total.cpuMs += part.cpuMs;
        total.serverCpuMs += part.serverCpuMs;
        total.parts += part.parts;
        total.rows += part.rows;
      }
    }

    const columns = ['aggregate, 1 part a call', `aggregate, ${BATCH} parts a call`, 'raw BatchWriteItem loop'];
    const table: string[][] = [
      ['', ...columns],
      ['rows/s (images/s)', rate(single), rate(batched), rate(raw)],
      [`ms per ${ROWS}-row part (wall)`, perPart(single, 'wallMs'), perPart(batched, 'wallMs'), perPart(raw, 'wallMs')],
      [
        `ms CPU per ${ROWS}-row part (this process)`,
        perPart(single, 'cpuMs'),
        perPart(batched, 'cpuMs'),
        perPart(raw, 'cpuMs'),
      ],
      ...(servers.length === 0
        ? []
        : [
            [
              `ms CPU per ${ROWS}-row part (S3 + DynamoDB servers)`,
              perPart(single, 'serverCpuMs'),
              perPart(batched, 'serverCpuMs'),
              perPart(raw, 'serverCpuMs'),
            ],
          ]),
    ];
    const width = Math.max(...table.map((row) => row[0]?.length ?? 0));
    for (const [label, ...cells] of table) {
      console.log(
        `${(label ?? '').padEnd(width)}  ${cells.map((c, i) => c.padStart(columns[i]?.length ?? 0)).join('  ')}`,
      );
    }
    const line = (name: string, sample: Sample, side: 'single' | 'batched') => {
      const perRound = roundRatios.map((r) => r[side]);
      return (
        `ratio ${name} / raw (rows/s): ${(raw.wallMs / sample.wallMs).toFixed(2)} over all rounds; ` +
        `per round ${perRound.map((r) => r.toFixed(2)).join(' ')} (median ${median(perRound).toFixed(2)}); ` +
        `client CPU ${(raw.cpuMs / sample.cpuMs).toFixed(2)}`
      );
    };
    console.log(line('aggregate, 1 part a call', single, 'single'));
    console.log(line(`aggregate, ${BATCH} parts a call`, batched, 'batched'));
    console.log(`load ${loadavg()[0]?.toFixed(1)} at the end`);
  } finally {
    await aws.stop();
  }
}

function rate(sample: Sample): string {
  return (sample.rows / (sample.wallMs / 1000)).toFixed(0);
}

function perPart(sample: Sample, field: 'wallMs' | 'cpuMs' | 'serverCpuMs'): string {
  return (sample[field] / sample.parts).toFixed(1);
}

await main();
