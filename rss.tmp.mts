// One-off: peak RSS of one 200-image preprocess batch. argv: photos|12mp downloadConcurrency
import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { PreprocessSettingsSchema } from './shared/execution-input.ts';
import { configureImageProcessing } from './stages/preprocess/image-processing.ts';
import { runPreprocess } from './stages/preprocess/preprocess.ts';
import { MemoryObjectStore, MemoryPredictionStore } from './test/helpers/memory-stores.ts';
import type { S3Location } from './shared/s3-location.ts';

const [kind = 'photos', downloads = '32'] = process.argv.slice(2);
const dir = kind === 'photos' ? '/work/shared/datasets/photos' : `/tmp/rss/${kind}`;
const COUNT = Number(process.argv[4] ?? 200);
const budgetBytes = process.argv[5] === 'nobudget' ? Number.POSITIVE_INFINITY : undefined;
const names = (await readdir(dir)).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort();
const bodies = await Promise.all(names.map((n) => readFile(`${dir}/${n}`)));
/** Hands out a fresh copy per GET, as a download does. */
class Downloading extends MemoryObjectStore {
  override async get(location: S3Location) {
    const body = await super.get(location);
    return body === undefined ? undefined : Buffer.from(body);
  }
}
const objects = new Downloading();
const items = [];
for (let i = 0; i < COUNT; i++) {
  const body = bodies[i % bodies.length]!;
  const key = `in/${i}-${names[i % names.length]}`;
  await objects.put({ bucket: 'd', key }, body);
  items.push({ index: i, bucket: 'd', key, size: body.length });
}
const imageConcurrency = configureImageProcessing();
global.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
const cpu = process.cpuUsage();
const started = performance.now();
const settings = PreprocessSettingsSchema.parse({ downloadConcurrency: Number(downloads), batchSize: Math.min(200, COUNT) });
const result = await runPreprocess(
  { Items: items, BatchInput: { runId: 'rss', pipelineBucket: 'p', settings } },
  { objects, predictions: new MemoryPredictionStore(), clock: { now: () => new Date() }, log: { debug() {}, info() {}, warn() {}, error() {} }, imageConcurrency, ...(budgetBytes ? { downloadBudgetBytes: budgetBytes } : {}) },
);
clearInterval(timer);
const used = process.cpuUsage(cpu);
const maxRss = process.resourceUsage().maxRSS * 1024;
const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
console.log(JSON.stringify({ kind, downloads: Number(downloads), imageConcurrency, cores: availableParallelism(), records: result.records, rejected: result.rejected,
  baselineMB: mb(baseline), peakSampledMB: mb(peak), maxRssMB: mb(maxRss), aboveBaselineMB: mb(maxRss - baseline),
  storeMB: mb(bodies.reduce((s, b) => s + b.length, 0)), wallS: ((performance.now() - started) / 1000).toFixed(1), cpuMsPerImage: ((used.user + used.system) / 1000 / COUNT).toFixed(1), budget: process.argv[5] ?? 'default' }));
