/**
 * `npm run bench:ocr`: Nightshift's model server against tesseract on the same rendered text images, in the same
 * run, interleaved round by round, so a change in the machine's load hits both alike.
 *
 * - Nightshift: the real server (child process, default worker pool), `POST /invocations` with JSON Lines of
 *   base64 images, BENCH_BATCH per request, as many requests at once as /execution-parameters recommends.
 * - tesseract (`tesseract-ocr` from Debian: `apt-get install tesseract-ocr`): one process given the image paths in
 *   one list file, `--psm 6` (a uniform block of text), `OMP_THREAD_LIMIT=1` (its OpenMP threads only compete
 *   with each other on a loaded machine). Without tesseract on the PATH its column is skipped, saying so.
 *
 * Then: one-image latency (a raw image body, median of 5) and images/s at 1, 2 and N requests at once.
 * Options (environment): BENCH_IMAGES (default 48), BENCH_BATCH (default 8), BENCH_ROUNDS (default 3).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ModelInput } from '../shared/records.ts';
import { postInvocations, readJsonLines, startModelServer } from '../test/helpers/model-server.ts';
import {
  characterErrorRate,
  renderText,
  SAMPLE_LINES,
  type TextImage,
  toModelInput,
} from '../test/helpers/text-images.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 48);
const BATCH = Number(process.env.BENCH_BATCH ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const run = promisify(execFile);

interface Score {
  exact: number;
  cer: number;
}

function score(read: readonly string[], expected: readonly string[]): Score {
  let exact = 0;
  let cer = 0;
  expected.forEach((text, index) => {
    const got = (read[index] ?? '').trim();
    if (got === text) exact += 1;
    cer += characterErrorRate(got, text);
  });
  return { exact, cer: cer / expected.length };
}

/** Documents of 1-6 lines cycling through the sample lines (receipts, labels, signs), as bench:model renders. */
async function benchImages(): Promise<{ images: TextImage[]; expected: string[] }> {
  const images: TextImage[] = [];
  const expected: string[] = [];
  for (let index = 0; index < IMAGES; index += 1) {
    const lines = Array.from(
      { length: (index % 6) + 1 },
      (_, line) => SAMPLE_LINES[(index * 5 + line) % SAMPLE_LINES.length] as string,
    );
    images.push(await renderText(lines, { fontSize: 32, format: index % 2 === 0 ? 'jpeg' : 'png' }));
    expected.push(lines.join('\n'));
  }
  return { images, expected };
}

async function nightshiftPass(url: string, inputs: readonly ModelInput[], concurrency: number, batch = BATCH) {
  const queue = Array.from({ length: Math.ceil(inputs.length / batch) }, (_, index) => index * batch);
  const read: string[] = new Array(inputs.length).fill('');
  const started = performance.now();
  const worker = async () => {
    for (let first = queue.shift(); first !== undefined; first = queue.shift()) {
      const response = await postInvocations(url, inputs.slice(first, first + batch));
      if (response.status !== 200)
        throw new Error(`/invocations answered ${response.status}: ${await response.text()}`);
      (await readJsonLines(response)).forEach((output, offset) => {
        read[first + offset] = typeof output.text === 'string' ? output.text : '';
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ms: performance.now() - started, read };
}

async function tesseractPass(listFile: string) {
  const started = performance.now();
  const { stdout } = await run('tesseract', [listFile, '-', '--psm', '6'], {
    env: { ...process.env, OMP_THREAD_LIMIT: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  // With a list of images tesseract ends each page's text with a form feed.
  const read = stdout.split('\f').map((page) => page.replace(/\n+$/, ''));
  return { ms: performance.now() - started, read };
}

async function main(): Promise<void> {
  const { images, expected } = await benchImages();
  const inputs = images.map(toModelInput);
  const tesseract = spawnSync('tesseract', ['--version'], { encoding: 'utf8' });
  const tesseractVersion = tesseract.status === 0 ? (tesseract.stdout || tesseract.stderr).split('\n')[0] : undefined;
  console.log(
    `OCR benchmark: ${IMAGES} rendered images (1-6 lines), ${BATCH} per request, ${ROUNDS} interleaved rounds; ` +
      `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'})`,
  );
  if (tesseractVersion === undefined) {
    console.log('tesseract: not found, its column is skipped (install it with `apt-get install tesseract-ocr`)');
  }

  const directory = await mkdtemp(join(tmpdir(), 'bench-ocr-'));
  const listFile = join(directory, 'images.txt');
  const paths = await Promise.all(
    images.map(async (image, index) => {
      const path = join(directory, `${index}.${image.format === 'png' ? 'png' : 'jpg'}`);
      await writeFile(path, image.bytes);
      return path;
    }),
  );
  await writeFile(listFile, `${paths.join('\n')}\n`);

  const server = await startModelServer({ env: { SAGEMAKER_MAX_PAYLOAD_IN_MB: '100' } });
  try {
    await server.ready(120_000);
    const ready = server.logs.find((entry) => entry.message === 'model server ready') ?? {};
    const concurrency = Number(ready.MaxConcurrentTransforms ?? 2);
    console.log(
      `Nightshift: ${ready.workers} inference workers x ${ready.intraOpThreads} intra-op threads, ` +
        `${concurrency} requests at once (${ready.executionProvider})`,
    );
    if (tesseractVersion !== undefined) console.log(`tesseract: ${tesseractVersion}, --psm 6, OMP_THREAD_LIMIT=1`);
    await nightshiftPass(server.url, inputs.slice(0, BATCH), 1);

    const totals = { nightshift: 0, tesseract: 0 };
    let nightshiftRead: string[] = [];
    let tesseractRead: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const ours = await nightshiftPass(server.url, inputs, concurrency);
      totals.nightshift += ours.ms;
      nightshiftRead = ours.read;
      if (tesseractVersion !== undefined) {
        const theirs = await tesseractPass(listFile);
        totals.tesseract += theirs.ms;
        tesseractRead = theirs.read;
      }
    }
    const rate = (ms: number) => (IMAGES * ROUNDS) / (ms / 1000);
    const ours = score(nightshiftRead, expected);
    const rows: [string, string, string][] = [['', 'Nightshift', 'tesseract']];
    const theirs = tesseractVersion !== undefined ? score(tesseractRead, expected) : undefined;
    const skipped = 'skipped (not installed)';
    rows.push(['images/s', rate(totals.nightshift).toFixed(2), theirs ? rate(totals.tesseract).toFixed(2) : skipped]);
    rows.push(['images read exactly', `${ours.exact}/${IMAGES}`, theirs ? `${theirs.exact}/${IMAGES}` : skipped]);
    rows.push(['character error rate', ours.cer.toFixed(3), theirs ? theirs.cer.toFixed(3) : skipped]);
    for (const [label, a, b] of rows) console.log(`  ${label.padEnd(24)} ${a.padEnd(14)} ${b}`);
    if (theirs) {
      console.log(`  ratio Nightshift / tesseract images/s: ${(totals.tesseract / totals.nightshift).toFixed(2)}`);
    }

    const latencies: number[] = [];
    for (let index = 0; index < 5; index += 1) {
      const image = images[index % images.length] as TextImage;
      const started = performance.now();
      const response = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': `image/${image.format}` },
        body: new Uint8Array(image.bytes),
      });
      await response.json();
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    console.log(`  one-image latency (raw body, median of 5): ${(latencies[2] ?? 0).toFixed(0)} ms`);
    for (const level of [...new Set([1, 2, concurrency])]) {
      const pass = await nightshiftPass(server.url, inputs, level);
      console.log(`  ${level} request(s) at once: ${(IMAGES / (pass.ms / 1000)).toFixed(2)} images/s`);
    }
    console.log('  (shared machine: compare the two columns of one run, not figures across runs)');
  } finally {
    await server.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

await main();
