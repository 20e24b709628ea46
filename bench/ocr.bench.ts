/**
 * `npm run bench:ocr`: Nightshift's model server against tesseract on the same rendered text images, in the same
 * run, interleaved round by round, so a change in the machine's load hits both alike.
 *
 * - Nightshift: the real server (child process, default worker pool), `POST /invocations` with JSON Lines of
 *   base64 images, BENCH_BATCH per request, as many requests at once as /execution-parameters recommends.
 * - tesseract (`tesseract-ocr` from Debian: `apt-get install tesseract-ocr`), `--psm 6` (a uniform block of
 *   text), `OMP_THREAD_LIMIT=1` (its OpenMP threads only compete with each other on a loaded machine), two ways:
 *   one process given the image paths in one list file, and one such process per core, each over its share of
 *   the list (tesseract's best use of the same cores). Both ratios are printed. Without tesseract on the PATH its
 *   columns are skipped, saying so.
 * - CPU time per image for both (Linux: the server's from /proc/PID/stat, tesseract's as this process's reaped
 *   children), which a shared machine's load moves far less than images/s.
 *
 * Then: one-image latency (a raw image body, median of 5) and images/s at 1, 2 and N requests at once.
 * Options (environment): BENCH_IMAGES (default 48), BENCH_BATCH (default 8), BENCH_ROUNDS (default 3).
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

async function nightshiftPass(
  url: string,
  inputs: readonly ModelInput[],
  concurrency: number,
  batch = BATCH,
  pid?: number,
) {
  const cpuBefore = pid === undefined ? undefined : processCpuMs(pid);
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
  const ms = performance.now() - started;
  return { ms, cpuMs: cpuOrNaN(cpuBefore, pid === undefined ? undefined : processCpuMs(pid)), read };
}

/** Runs one tesseract process per list file, all at once; the pages come back in the lists' order. */
async function tesseractPass(listFiles: readonly string[]) {
  const started = performance.now();
  const cpuBefore = reapedChildrenCpuMs();
  const outputs = await Promise.all(
    listFiles.map((listFile) =>
      run('tesseract', [listFile, '-', '--psm', '6'], {
        env: { ...process.env, OMP_THREAD_LIMIT: '1' },
        maxBuffer: 64 * 1024 * 1024,
      }),
    ),
  );
  // With a list of images tesseract puts a form feed between pages (none after the last).
  const read = outputs.flatMap(({ stdout }) => stdout.split('\f').map((page) => page.replace(/\n+$/, '')));
  return { ms: performance.now() - started, cpuMs: cpuOrNaN(cpuBefore, reapedChildrenCpuMs()), read };
}

/** Fields of /proc/PID/stat after the command name, or undefined off Linux. */
function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of a process (fields 14-15 of proc(5)), in ms at the usual 100 clock ticks per second. */
function processCpuMs(pid: number): number | undefined {
  const fields = procStat(pid);
  return fields === undefined ? undefined : (Number(fields[11]) + Number(fields[12])) * 10;
}

/** cutime + cstime (fields 16-17): CPU time of this process's children that have exited and been waited for. */
function reapedChildrenCpuMs(): number | undefined {
  const fields = procStat('self');
  return fields === undefined ? undefined : (Number(fields[13]) + Number(fields[14])) * 10;
}

function cpuOrNaN(before: number | undefined, after: number | undefined): number {
  return before === undefined || after === undefined ? Number.NaN : after - before;
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
  const cores = availableParallelism();
  const paths = await Promise.all(
    images.map(async (image, index) => {
      const path = join(directory, `${index}.${image.format === 'png' ? 'png' : 'jpg'}`);
      await writeFile(path, image.bytes);
      return path;
    }),
  );
  const oneList = join(directory, 'images.txt');
  await writeFile(oneList, `${paths.join('\n')}\n`);
  // One contiguous share of the list per core, so the pages still come back in order.
  const perCore = Math.ceil(paths.length / cores);
  const coreLists = await Promise.all(
    Array.from({ length: Math.ceil(paths.length / perCore) }, async (_, core) => {
      const file = join(directory, `images-${core}.txt`);
      await writeFile(file, `${paths.slice(core * perCore, (core + 1) * perCore).join('\n')}\n`);
      return file;
    }),
  );

  const server = await startModelServer({ env: { SAGEMAKER_MAX_PAYLOAD_IN_MB: '100' } });
  try {
    await server.ready(120_000);
    const ready = server.logs.find((entry) => entry.message === 'model server ready') ?? {};
    const concurrency = Number(ready.MaxConcurrentTransforms ?? 2);
    console.log(
      `Nightshift: ${ready.workers} inference workers x ${ready.intraOpThreads} intra-op threads, ` +
        `${concurrency} requests at once (${ready.executionProvider})`,
    );
    if (tesseractVersion !== undefined) {
      console.log(
        `tesseract: ${tesseractVersion}, --psm 6, OMP_THREAD_LIMIT=1; one process over one list, and ` +
          `${coreLists.length} processes at once over ${perCore} images each (one per core)`,
      );
    }
    await nightshiftPass(server.url, inputs.slice(0, BATCH), 1);

    const columns = ['Nightshift', 'tesseract, 1 process', `tesseract, ${coreLists.length} processes`] as const;
    const totals = columns.map(() => ({ ms: 0, cpuMs: 0, read: [] as string[] }));
    const add = (column: number, pass: { ms: number; cpuMs: number; read: string[] }) => {
      const total = totals[column] as (typeof totals)[number];
      total.ms += pass.ms;
      total.cpuMs += pass.cpuMs;
      total.read = pass.read;
    };
    for (let round = 0; round < ROUNDS; round += 1) {
      add(0, await nightshiftPass(server.url, inputs, concurrency, BATCH, server.pid));
      if (tesseractVersion !== undefined) {
        add(1, await tesseractPass([oneList]));
        add(2, await tesseractPass(coreLists));
      }
    }
    const shown = tesseractVersion !== undefined ? totals : totals.slice(0, 1);
    const rate = (ms: number) => (IMAGES * ROUNDS) / (ms / 1000);
    const rows: string[][] = [['', ...columns.slice(0, shown.length)]];
    const scores = shown.map((total) => score(total.read, expected));
    rows.push(['images/s', ...shown.map((total) => rate(total.ms).toFixed(2))]);
    rows.push(['CPU ms per image', ...shown.map((total) => (total.cpuMs / (IMAGES * ROUNDS)).toFixed(1))]);
    rows.push(['images read exactly', ...scores.map((one) => `${one.exact}/${IMAGES}`)]);
    rows.push(['character error rate', ...scores.map((one) => one.cer.toFixed(3))]);
    for (const [label, ...cells] of rows) {
      console.log(`  ${(label as string).padEnd(22)} ${cells.map((cell) => cell.padEnd(22)).join(' ')}`);
    }
    if (tesseractVersion === undefined) {
      console.log('  tesseract columns skipped (not installed)');
    } else {
      const ours = (totals[0] as (typeof totals)[number]).ms;
      const single = (totals[1] as (typeof totals)[number]).ms;
      const parallel = (totals[2] as (typeof totals)[number]).ms;
      console.log(`  ratio Nightshift / tesseract (1 process over one list) images/s: ${(single / ours).toFixed(2)}`);
      console.log(
        `  ratio Nightshift / tesseract (best: ${coreLists.length} processes, one per core) images/s: ` +
          `${(Math.min(single, parallel) / ours).toFixed(2)}`,
      );
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
