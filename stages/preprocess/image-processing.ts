import { availableParallelism } from 'node:os';
import sharp from 'sharp';

/**
 * Sets libvips up for a process that preprocesses batches, and says how many images it should decode at once.
 *
 * - One libvips thread per image (`sharp.concurrency(1)`), and images side by side instead, one per core: the
 *   stage's images are small (a photo, a page), where libvips' threads per image mostly wait on each other, while
 *   whole images in parallel keep every core busy. libuv's pool (4 threads) runs sharp's work, so up to 4 cores are
 *   used without raising UV_THREADPOOL_SIZE.
 * - No operation cache (`sharp.cache(false)`): each input is seen once, so the cache only holds memory and hashes
 *   every operation.
 *
 * Lambda shows its vCPUs to the process (availableParallelism) and gives CPU in proportion to memory, one vCPU's
 * worth at 1,769 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so one image per
 * visible core uses the whole share without queueing decoded pixels. JPEG inputs shrink on load (libjpeg's DCT
 * scaling) because the model input's resize is the pipeline's first geometric step; sequential reads are sharp's
 * default.
 */
export function configureImageProcessing(): number {
  sharp.concurrency(1);
  sharp.cache(false);
  return availableParallelism();
}
