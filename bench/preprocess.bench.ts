/**
 * `npm run bench:preprocess`: the preprocess stage's own decode/resize/encode (`prepareModelInput` with the default
 * settings: EXIF orientation, flatten onto white, sRGB, fit inside 960 x 960, JPEG quality 90) against PIL doing the
 * same operations, on the same real photos, in the same run, interleaved round by round.
 *
 * - Nightshift: sharp with `sharp.concurrency(1)` and one image at a time, so its CPU time is one core's work.
 * - PIL: bench/preprocess-pil.py under Debian's Python (`apt-get install python3-pil`); without it its column is
 *   skipped, saying so.
 *
 * "ms per image per core" is CPU time (user + system of the process doing the work) over images: on a machine shared
 * with other work the wall time also counts the waits for a core, the CPU time does not. Wall time is printed too.
 * This figure goes into docs/cost.md's Lambda arithmetic (a Lambda function's CPU share grows with its memory).
 *
 * Photos: BENCH_PHOTOS (default ../shared/datasets/photos, i.e. /work/shared/datasets/photos here); without them
 * the bench says so and exits 0. Options: BENCH_ROUNDS (default 3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { PreprocessSettingsSchema } from '../shared/execution-input.ts';
import { prepareModelInput } from '../stages/preprocess/model-input.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PHOTOS = resolve(ROOT, process.env.BENCH_PHOTOS ?? '../shared/datasets/photos');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PIL_SCRIPT = join(ROOT, 'bench', 'preprocess-pil.py');
/** Debian's interpreter, where python3-pil installs; another python3 on the PATH may lack PIL. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

interface Pass {
  readonly images: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

async function nightshiftPass(photos: readonly Buffer[]): Promise<Pass> {
  const settings = PreprocessSettingsSchema.parse({});
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const bytes of photos) {
    const prepared = await prepareModelInput(bytes, settings);
    if (!prepared.ok) throw new Error(`a benchmark photo was rejected: ${prepared.problem}`);
  }
  const used = process.cpuUsage(cpu);
  return { images: photos.length, cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started };
}

function pilPass(paths: readonly string[]): Pass {
  const settings = PreprocessSettingsSchema.parse({});
  const result = spawnSync(
    PYTHON,
    [PIL_SCRIPT, String(settings.width), String(settings.height), String(settings.jpegQuality)],
    { input: paths.join('\n'), encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } },
  );
  if (result.status !== 0) throw new Error(`${PIL_SCRIPT} failed: ${result.stderr}`);
  const { images, cpuSeconds, wallSeconds } = JSON.parse(result.stdout) as {
    images: number;
    cpuSeconds: number;
    wallSeconds: number;
  };
  return { images, cpuMs: cpuSeconds * 1000, wallMs: wallSeconds * 1000 };
}

function pilVersion(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import PIL; print(PIL.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** The fastest round: on a shared machine the slower rounds measure the neighbours, not the code. */
function best(passes: readonly Pass[]): Pass {
  return passes.reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
}

function perImage(pass: Pass, field: 'cpuMs' | 'wallMs'): string {
  return (pass[field] / pass.images).toFixed(1);
}

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
  sharp.concurrency(1);
  const pil = pilVersion();
  console.log(
    `bench:preprocess: ${photos.length} photos from ${PHOTOS} (${(photos.reduce((sum, b) => sum + b.length, 0) / 1e6).toFixed(1)} MB, ` +
      `${meanMegapixels.toFixed(2)} megapixels on average), ` +
      `${ROUNDS} rounds; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load ${loadavg()[0]?.toFixed(1)}`,
  );
  console.log(`Nightshift: sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), sharp.concurrency(1)`);
  if (pil === undefined)
    console.log(`PIL: not found for ${PYTHON}, its column is skipped (apt-get install python3-pil)`);
  else console.log(`PIL: ${pil} (${PYTHON})`);

  await nightshiftPass(photos.slice(0, 4));
  const ours: Pass[] = [];
  const theirs: Pass[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    ours.push(await nightshiftPass(photos));
    if (pil !== undefined) theirs.push(pilPass(paths));
  }
  const mine = best(ours);
  const rows: [string, string, string][] = [
    ['', 'Nightshift (sharp)', 'PIL'],
    ['ms per image per core (CPU)', perImage(mine, 'cpuMs'), theirs.length > 0 ? perImage(best(theirs), 'cpuMs') : '-'],
    ['ms per image (wall)', perImage(mine, 'wallMs'), theirs.length > 0 ? perImage(best(theirs), 'wallMs') : '-'],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  for (const [label, a, b] of rows) console.log(`${label.padEnd(width)}  ${a.padStart(18)}  ${b.padStart(8)}`);
}

await main();
