/**
 * `npm run bench:preprocess`: the preprocess stage's own image work (`prepareModelInput` with the default settings:
 * EXIF orientation, flatten onto white, sRGB, fit inside 960 x 960, JPEG quality 90, or a JPEG that already is the
 * model input sent as its own bytes; then `makeThumbnail`, the report's 160 px WebP) against PIL doing the same
 * operations (bench/preprocess-pil.py lists them, the same bytes kept), on the same real photos, at 1 and 2
 * workers, in the same run, interleaved round by round.
 *
 * - Nightshift: the libvips settings the stage's handler applies (`configureImageProcessing`: one libvips thread per
 *   image, no operation cache) and N images in flight in one process, as the stage's batch loop runs them.
 * - PIL: Debian's python3-pil under /usr/bin/python3 (`apt-get install python3-pil`), N processes; without it its
 *   columns are skipped, saying so. The photos are read into memory first on both sides.
 *
 * Printed per worker count, as the median of the rounds: images/s (wall) and CPU ms per image (user + system of the
 * processes doing the work, over images), and the ratios Nightshift over PIL (images/s, and PIL's CPU per image over
 * ours). On a machine shared with other work the wall figures also count the waits for a core; the CPU figures do
 * not. The CPU ms per image goes into docs/cost.md's Lambda arithmetic (a Lambda function's CPU share grows with
 * its memory).
 *
 * Photos: BENCH_PHOTOS (default ../shared/datasets/photos, i.e. /work/shared/datasets/photos here); without them
 * the bench says so and exits 0. Options: BENCH_ROUNDS (default 5), BENCH_WORKERS (default "1,2").
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { PreprocessSettingsSchema } from '../shared/execution-input.ts';
import { THUMBNAIL_MAX_SIDE, THUMBNAIL_WEBP_QUALITY } from '../shared/thumbnails.ts';
import { configureImageProcessing } from '../stages/preprocess/image-processing.ts';
import { prepareModelInput } from '../stages/preprocess/model-input.ts';
import { makeThumbnail, THUMBNAIL_WEBP_EFFORT } from '../stages/preprocess/thumbnail.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PHOTOS = resolve(ROOT, process.env.BENCH_PHOTOS ?? '../shared/datasets/photos');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const PIL_SCRIPT = join(ROOT, 'bench', 'preprocess-pil.py');
/** Debian's interpreter, where python3-pil installs; another python3 on the PATH may lack PIL. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);
const SETTINGS = PreprocessSettingsSchema.parse({});

interface Pass {
  readonly images: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  /** Model input and thumbnail bytes produced: both sides should make about as many. */
  readonly bytes: number;
  /** Each image's CPU ms, in photo order; one worker only (with more, images overlap). */
  readonly perImageCpuMs: readonly number[];
  /** Whether each image, in photo order, was sent as its own bytes: both sides must keep the same ones. */
  readonly kept: readonly boolean[];
}

async function nightshiftPass(photos: readonly Buffer[], workers: number): Promise<Pass> {
  const limit = pLimit(workers);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const perImageCpuMs: number[] = [];
  const kept: boolean[] = [];
  const produced = await Promise.all(
    photos.map((bytes, index) =>
      limit(async () => {
        const before = process.cpuUsage();
        const prepared = await prepareModelInput(bytes, SETTINGS);
        if (!prepared.ok) throw new Error(`a benchmark photo was rejected: ${prepared.problem}`);
        const thumbnail = await makeThumbnail(bytes, SETTINGS.maxInputPixels, prepared);
        const spent = process.cpuUsage(before);
        if (workers === 1) perImageCpuMs.push((spent.user + spent.system) / 1000);
        kept[index] = prepared.kept;
        return prepared.encoded.byteLength + thumbnail.byteLength;
      }),
    ),
  );
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const bytes = produced.reduce((sum, size) => sum + size, 0);
  return { images: photos.length, cpuMs: (used.user + used.system) / 1000, wallMs, bytes, perImageCpuMs, kept };
}

function pilPass(paths: readonly string[], workers: number): Pass {
  const { width, height, jpegQuality } = SETTINGS;
  const args = [
    width,
    height,
    jpegQuality,
    THUMBNAIL_MAX_SIDE,
    THUMBNAIL_WEBP_QUALITY,
    THUMBNAIL_WEBP_EFFORT,
    workers,
  ].map(String);
  const result = spawnSync(PYTHON, [PIL_SCRIPT, ...args], {
    input: paths.join('\n'),
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  if (result.status !== 0) throw new Error(`${PIL_SCRIPT} failed: ${result.stderr}`);
  const pass = JSON.parse(result.stdout) as {
    images: number;
    cpuSeconds: number;
    wallSeconds: number;
    bytes: number;
    cpuSecondsPerImage: number[];
    kept: boolean[];
  };
  return {
    images: pass.images,
    cpuMs: pass.cpuSeconds * 1000,
    wallMs: pass.wallSeconds * 1000,
    bytes: pass.bytes,
    perImageCpuMs: pass.cpuSecondsPerImage.map((seconds) => seconds * 1000),
    kept: pass.kept,
  };
}

function pilVersion(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import PIL; print(PIL.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** The median: on a shared machine single rounds swing with the neighbours' load. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const imagesPerSecond = (pass: Pass) => (pass.images * 1000) / pass.wallMs;
const cpuMsPerImage = (pass: Pass) => pass.cpuMs / pass.images;

async function main(): Promise<void> {
  if (!existsSync(PHOTOS)) {
    console.log(`bench:preprocess skipped: no photos at ${PHOTOS} (set BENCH_PHOTOS to a folder of JPEG/PNG photos)`);
    return;
  }
  const paths = (await readdir(PHOTOS))
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(PHOTOS, name));
  if (paths.length === 0) {
    console.log(`bench:preprocess skipped: ${PHOTOS} holds no JPEG/PNG photos`);
    return;
  }
  const photos = await Promise.all(paths.map((path) => readFile(path)));
  const sizes = await Promise.all(photos.map(async (bytes) => (await sharp(bytes).metadata()).autoOrient));
  const meanMegapixels = sizes.reduce((sum, size) => sum + size.width * size.height, 0) / sizes.length / 1e6;
  configureImageProcessing();
  const pil = pilVersion();
  console.log(
    `bench:preprocess: ${photos.length} photos from ${PHOTOS} (${(photos.reduce((sum, b) => sum + b.length, 0) / 1e6).toFixed(1)} MB, ` +
      `${meanMegapixels.toFixed(2)} megapixels on average), ${ROUNDS} rounds, ${WORKERS.join(' and ')} workers; ` +
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load ${loadavg()[0]?.toFixed(1)}`,
  );
  console.log(
    `Nightshift: sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), one libvips thread per image`,
  );
  if (pil === undefined)
    console.log(`PIL: not found for ${PYTHON}, its columns are skipped (apt-get install python3-pil)`);
  else console.log(`PIL: ${pil} (${PYTHON}), one process per worker`);

  await nightshiftPass(photos.slice(0, 8), 1);
  const ours = new Map<number, Pass[]>(WORKERS.map((workers) => [workers, []]));
  const theirs = new Map<number, Pass[]>(WORKERS.map((workers) => [workers, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const workers of WORKERS) {
      // Alternate who goes first, so neither side always meets the same neighbour load.
      const oursFirst = round % 2 === 0;
      if (oursFirst) ours.get(workers)?.push(await nightshiftPass(photos, workers));
      if (pil !== undefined) theirs.get(workers)?.push(pilPass(paths, workers));
      if (!oursFirst) ours.get(workers)?.push(await nightshiftPass(photos, workers));
    }
  }

  const header = [
    'workers',
    'Nightshift img/s',
    'PIL img/s',
    'ratio',
    'Nightshift CPU ms/img',
    'PIL CPU ms/img',
    'ratio',
  ];
  const rows = WORKERS.map((workers) => {
    const mine = ours.get(workers) ?? [];
    const pils = theirs.get(workers) ?? [];
    const ourRate = median(mine.map(imagesPerSecond));
    const ourCpu = median(mine.map(cpuMsPerImage));
    if (pils.length === 0) return [String(workers), ourRate.toFixed(1), '-', '-', ourCpu.toFixed(1), '-', '-'];
    const pilRate = median(pils.map(imagesPerSecond));
    const pilCpu = median(pils.map(cpuMsPerImage));
    // Ratios of the medians of interleaved rounds.
    return [
      String(workers),
      ourRate.toFixed(1),
      pilRate.toFixed(1),
      `${(ourRate / pilRate).toFixed(2)}x`,
      ourCpu.toFixed(1),
      pilCpu.toFixed(1),
      `${(pilCpu / ourCpu).toFixed(2)}x`,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  for (const row of [header, ...rows])
    console.log(row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  '));
  const ourSingles = ours.get(1) ?? [];
  const pilSingles = theirs.get(1) ?? [];
  const keptFlags = ourSingles[0]?.kept ?? [];
  const pilKept = pilSingles[0]?.kept;
  if (pilKept !== undefined) {
    const differ = keptFlags.flatMap((kept, index) => (kept === pilKept[index] ? [] : [basename(paths[index] ?? '')]));
    console.log(
      `sent as their own bytes: Nightshift ${keptFlags.filter(Boolean).length}, PIL ${pilKept.filter(Boolean).length} photos` +
        (differ.length === 0 ? ' (the same ones)' : `; kept by one side only: ${differ.join(', ')}`),
    );
  }
  if (ourSingles.length > 0 && pilSingles.length > 0) {
    // Where the time goes: photos that must shrink to fit, photos re-encoded at their own size, photos sent as their
    // own bytes; per image CPU medians over the rounds.
    const shrunk = sizes.map((size) => size.width > SETTINGS.width || size.height > SETTINGS.height);
    const classOf = (index: number) =>
      shrunk[index] ? 'shrunk to fit' : keptFlags[index] ? 'sent as their own bytes' : 're-encoded at their size';
    for (const label of ['shrunk to fit', 're-encoded at their size', 'sent as their own bytes']) {
      const picked = sizes.flatMap((_, index) => (classOf(index) === label ? [index] : []));
      if (picked.length === 0) continue;
      const cost = (passes: readonly Pass[]) =>
        picked.reduce((sum, index) => sum + median(passes.map((pass) => pass.perImageCpuMs[index] ?? 0)), 0) /
        picked.length;
      const mine = cost(ourSingles);
      const pils = cost(pilSingles);
      console.log(
        `1 worker, ${picked.length} photos ${label}: Nightshift ${mine.toFixed(1)} CPU ms/img, PIL ${pils.toFixed(1)}: ` +
          `ratio ${(pils / mine).toFixed(2)}x`,
      );
    }
  }
  const sample = ours.get(WORKERS[0] ?? 1)?.[0];
  const pilSample = theirs.get(WORKERS[0] ?? 1)?.[0];
  console.log(
    `output per image (model input + thumbnail): Nightshift ${((sample?.bytes ?? 0) / photos.length / 1024).toFixed(1)} KiB` +
      (pilSample === undefined ? '' : `, PIL ${(pilSample.bytes / photos.length / 1024).toFixed(1)} KiB`),
  );
}

await main();
