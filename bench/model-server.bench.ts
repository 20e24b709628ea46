/**
 * `npm run bench:model`: OCR throughput through the model server's HTTP contract against the same model called
 * in-process, on the same images with the same thread settings.
 *
 * - HTTP: the real server (child process), `POST /invocations` with JSON Lines of base64 images, one request at
 *   a time (MaxConcurrentTransforms 1) and then two at a time (what /execution-parameters recommends).
 * - In-process: the same OCR handler on the same decoded images (pre/post-processing included), and the time
 *   spent inside `InferenceSession.run` alone, i.e. the model's own compute.
 *
 * The ratio HTTP / InferenceSession.run is the overhead of everything around the model: HTTP, JSON, base64,
 * image decoding, DB post-processing, cropping and CTC decoding.
 *
 * Options (environment): BENCH_IMAGES (default 32), BENCH_BATCH (images per request, default 8),
 * BENCH_ROUNDS (passes over the images, default 3), NIGHTSHIFT_INTRA_OP_THREADS (default: every core).
 */
import { availableParallelism } from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { silentLog } from '../shared/logging.ts';
import type { ModelInput } from '../shared/records.ts';
import { createSessionFactory, probeCuda, type SessionFactory } from '../stages/transform/execution-provider.ts';
import { decodeRecord } from '../stages/transform/image-records.ts';
import { chooseModelDirectory, loadModelHandler } from '../stages/transform/model-directory.ts';
import type { DecodedImage } from '../stages/transform/model-handler.ts';
import { postInvocations, readJsonLines, startModelServer } from '../test/helpers/model-server.ts';
import { renderText, SAMPLE_LINES, toModelInput } from '../test/helpers/text-images.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 32);
const BATCH = Number(process.env.BENCH_BATCH ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THREADS = Number(process.env.NIGHTSHIFT_INTRA_OP_THREADS ?? availableParallelism());

/** Documents of 1-6 lines, cycling through the sample lines: like receipts, labels and signs. */
async function benchImages(): Promise<{ inputs: ModelInput[]; expected: string[] }> {
  const inputs: ModelInput[] = [];
  const expected: string[] = [];
  for (let index = 0; index < IMAGES; index += 1) {
    const count = (index % 6) + 1;
    const lines = Array.from(
      { length: count },
      (_, line) => SAMPLE_LINES[(index * 5 + line) % SAMPLE_LINES.length] as string,
    );
    const image = await renderText(lines, { fontSize: 32, format: index % 2 === 0 ? 'jpeg' : 'png' });
    inputs.push(toModelInput(image));
    expected.push(lines.join('\n'));
  }
  return { inputs, expected };
}

function batches<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += BATCH) out.push(items.slice(start, start + BATCH));
  return out;
}

/** One timed pass over every request, `concurrency` requests in flight; counts images read exactly. */
async function httpPass(
  url: string,
  requests: readonly ModelInput[][],
  expected: readonly string[],
  concurrency: number,
) {
  const queue = requests.map((batch, index) => ({ batch, first: index * BATCH }));
  let exact = 0;
  const started = performance.now();
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const outputs = await readJsonLines(await postInvocations(url, next.batch));
      outputs.forEach((output, offset) => {
        if (output.text === expected[next.first + offset]) exact += 1;
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ms: performance.now() - started, exact };
}

/** A session factory whose sessions add the time spent in `run` to `timer.ms`. */
function timedSessions(factory: SessionFactory, timer: { ms: number }): SessionFactory {
  return {
    get provider() {
      return factory.provider;
    },
    intraOpThreads: factory.intraOpThreads,
    async create(model, label) {
      const session = await factory.create(model, label);
      return new Proxy(session, {
        get(target, property, receiver) {
          if (property === 'run') {
            return async (...args: Parameters<InferenceSession['run']>) => {
              const started = performance.now();
              try {
                return await target.run(...args);
              } finally {
                timer.ms += performance.now() - started;
              }
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}

async function main(): Promise<void> {
  const { inputs, expected } = await benchImages();
  const recordKB = inputs.reduce((bytes, input) => bytes + JSON.stringify(input).length + 1, 0) / 1024 / inputs.length;
  console.log(
    `OCR benchmark: ${inputs.length} images (1-6 text lines, ${recordKB.toFixed(0)} KB per record), ` +
      `${BATCH} per request, ${ROUNDS} rounds, ${THREADS} intra-op threads`,
  );

  const server = await startModelServer({
    env: {
      NIGHTSHIFT_INTRA_OP_THREADS: String(THREADS),
      SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2',
      SAGEMAKER_MAX_PAYLOAD_IN_MB: '100',
    },
  });
  const timer = { ms: 0 };
  const factory = timedSessions(
    createSessionFactory({ preference: 'auto', intraOpThreads: THREADS, probe: probeCuda(), log: silentLog }),
    timer,
  );
  const handler = await loadModelHandler(chooseModelDirectory(undefined).directory, factory, silentLog);
  try {
    await server.ready(60_000);
    const decoded: DecodedImage[] = [];
    for (const input of inputs) {
      const record = await decodeRecord(input);
      if (!record.ok) throw new Error(record.error.message);
      decoded.push(record.image);
    }
    const requests = batches(inputs);
    const groups = batches(decoded);
    // Warm-up: the first runs of a session allocate its memory arena.
    await httpPass(server.url, requests.slice(0, 1), expected, 1);
    await handler.predictBatch(groups[0] ?? []);

    // Request by request, the same batch goes over HTTP and then straight to the handler, so a change in the
    // machine's load (CI runners are shared) hits both figures alike.
    const totals = { http1: 0, http2: 0, handler: 0, run: 0, exact: 0 };
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [index, group] of groups.entries()) {
        const one = await httpPass(server.url, [requests[index] ?? []], expected.slice(index * BATCH), 1);
        totals.http1 += one.ms;
        totals.exact += one.exact;
        timer.ms = 0;
        const started = performance.now();
        await handler.predictBatch(group);
        totals.handler += performance.now() - started;
        totals.run += timer.ms;
      }
      totals.http2 += (await httpPass(server.url, requests, expected, 2)).ms;
    }

    const rate = (ms: number) => (inputs.length * ROUNDS) / (ms / 1000);
    const rows: [string, string][] = [
      ['HTTP /invocations, 1 request at a time', `${rate(totals.http1).toFixed(2)} images/s`],
      ['HTTP /invocations, 2 requests at a time', `${rate(totals.http2).toFixed(2)} images/s`],
      ['in-process handler (decoded images)', `${rate(totals.handler).toFixed(2)} images/s`],
      ['InferenceSession.run alone', `${rate(totals.run).toFixed(2)} images/s`],
      ['ratio HTTP (1 at a time) / session.run', (rate(totals.http1) / rate(totals.run)).toFixed(2)],
      ['ratio HTTP (1 at a time) / handler', (rate(totals.http1) / rate(totals.handler)).toFixed(2)],
      ['time per image over HTTP beyond session.run', `+${((totals.http1 / totals.run - 1) * 100).toFixed(0)}%`],
      ['images read exactly, every line', `${totals.exact / ROUNDS}/${inputs.length}`],
    ];
    console.log(`execution provider: ${factory.provider}`);
    for (const [label, value] of rows) console.log(`  ${label.padEnd(42)} ${value}`);
  } finally {
    await handler.dispose();
    await server.stop();
  }
}

await main();
