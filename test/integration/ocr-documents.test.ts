import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreprocessSettingsSchema } from '../../shared/execution-input.ts';
import { silentLog } from '../../shared/logging.ts';
import { prepareModelInput } from '../../stages/preprocess/model-input.ts';
import { createSessionFactory, probeCuda } from '../../stages/transform/execution-provider.ts';
import { decodeImage, decodeRecord } from '../../stages/transform/image-records.ts';
import { chooseModelDirectory, loadModelHandler } from '../../stages/transform/model-directory.ts';
import type { DecodedImage, ModelHandler } from '../../stages/transform/model-handler.ts';
import {
  characterErrorRate,
  type DocumentFont,
  PARAGRAPH_LINES,
  renderPage,
  renderText,
  SAMPLE_LINES,
  type TextImage,
} from '../helpers/text-images.ts';

function textOf(prediction: { readonly text?: unknown } | undefined): string {
  return typeof prediction?.text === 'string' ? prediction.text : '';
}

/** Real photos from Debian packages (see its README); absent on machines without the shared datasets. */
const PHOTOS = join(process.cwd(), '..', 'shared', 'datasets', 'photos');
/** Photos checked by eye to hold no text (the dataset README lists them). */
const TEXT_FREE_PHOTOS = [
  'opencv-fruits.jpg',
  'opencv-apple.jpg',
  'opencv-orange.jpg',
  'opencv-baboon.jpg',
  'opencv-butterfly.jpg',
  'opencv-smarties.png',
  'opencv-HappyFish.jpg',
  'opencv-squirrel_cls.jpg',
  'skimage-coffee.png',
  'skimage-chelsea.png',
  'skimage-grass.png',
  'skimage-gravel.png',
  'skimage-brick.png',
  'skimage-moon.png',
  'skimage-horse.png',
  'skimage-cell.png',
];

/**
 * The OCR handler in process on scanned-document-like pages and real photos, the way a run feeds it: pages go
 * through the preprocess stage's own encoding (default settings) before the model sees them.
 */
describe('OCR on documents and photos', () => {
  let handler: ModelHandler;

  beforeAll(async () => {
    const factory = createSessionFactory({ preference: 'cpu', intraOpThreads: 1, probe: probeCuda(), log: silentLog });
    handler = await loadModelHandler(chooseModelDirectory(undefined).directory, factory, silentLog);
  });

  afterAll(async () => {
    await handler?.dispose();
  });

  const preprocessed = async (page: TextImage): Promise<DecodedImage> => {
    const prepared = await prepareModelInput(page.bytes, PreprocessSettingsSchema.parse({}));
    if (!prepared.ok) throw new Error(prepared.problem);
    const decoded = await decodeRecord(prepared.input);
    if (!decoded.ok) throw new Error(decoded.error.message);
    return decoded.image;
  };

  /** Each font at 10 pt and 150 dpi (the smallest print of the issue) and at larger sizes and resolutions. */
  const pages: [DocumentFont, number, number][] = [
    ['sans', 10, 150],
    ['serif', 10, 150],
    ['mono', 10, 150],
    ['sans', 12, 150],
    ['serif', 12, 200],
    ['mono', 14, 300],
    ['sans', 11, 300],
    ['serif', 10, 300],
  ];
  it.each(pages)(
    'reads a dense %s page at %i pt and %i dpi, saved as JPEG, with CER <= 0.02',
    async (font, points, dpi) => {
      const page = await renderPage(PARAGRAPH_LINES, { font, points, dpi });

      const [prediction] = await handler.predictBatch([await preprocessed(page)]);

      expect(characterErrorRate(textOf(prediction), PARAGRAPH_LINES.join('\n'))).toBeLessThanOrEqual(0.02);
    },
  );

  it('reads lines printed upside down, turned by the direction classifier', async () => {
    const lines = SAMPLE_LINES.slice(0, 6);
    const images: DecodedImage[] = [];
    for (const line of lines) {
      const image = await renderText([line], { fontSize: 32, format: 'png' });
      const decoded = await decodeImage(await sharp(image.bytes).rotate(180).png().toBuffer());
      if (!decoded.ok) throw new Error(decoded.error.message);
      images.push(decoded.image);
    }

    const predictions = await handler.predictBatch(images);

    const read = predictions.map(textOf);
    expect(read.filter((text, index) => text === lines[index]).length).toBeGreaterThanOrEqual(5);
    expect(
      Math.max(...read.map((text, index) => characterErrorRate(text, lines[index] as string))),
    ).toBeLessThanOrEqual(0.1);
  });

  it('reads a two-column page column by column, 11 of its 12 lines exactly or better', async () => {
    const page = await renderPage(PARAGRAPH_LINES, { font: 'sans', points: 10, dpi: 150, columns: 2 });
    const decoded = await decodeImage(page.bytes);
    if (!decoded.ok) throw new Error(decoded.error.message);

    const [prediction] = await handler.predictBatch([decoded.image]);

    const read = textOf(prediction).split('\n');
    const positions = PARAGRAPH_LINES.map((line) => read.indexOf(line)).filter((position) => position >= 0);
    expect(positions.length).toBeGreaterThanOrEqual(11);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(read.indexOf(PARAGRAPH_LINES[5] as string)).toBeLessThan(read.indexOf(PARAGRAPH_LINES[6] as string));
  });

  it.skipIf(!existsSync(PHOTOS))(
    'finds no text in photos that have none (skipped without ../shared/datasets/photos)',
    async () => {
      const images: DecodedImage[] = [];
      for (const name of TEXT_FREE_PHOTOS) {
        const { data, info } = await sharp(await readFile(join(PHOTOS, name)))
          .resize(960, 960, { fit: 'inside', withoutEnlargement: true })
          .flatten({ background: '#ffffff' })
          .toColourspace('srgb')
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        images.push({ pixels: data, width: info.width, height: info.height });
      }

      const predictions = await handler.predictBatch(images);

      const found = predictions.flatMap((prediction, index) =>
        (prediction.lines as unknown[] | undefined)?.length
          ? [`${TEXT_FREE_PHOTOS[index]}: ${textOf(prediction)}`]
          : [],
      );
      expect(found).toEqual([]);
      expect(predictions.every((prediction) => prediction.text === '' && prediction.confidence === undefined)).toBe(
        true,
      );
    },
  );
});
