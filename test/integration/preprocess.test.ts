import { Agent, type ClientRequestArgs } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { InvalidInputError, RetryableError } from '../../shared/errors.ts';
import type { PreprocessSettings } from '../../shared/execution-input.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, ObjectStore, ObjectSummary, OpenedObject } from '../../shared/ports.ts';
import {
  type DatasetItem,
  type OutcomeRecord,
  RejectionRecordSchema,
  type TransformRecord,
  TransformRecordSchema,
} from '../../shared/records.ts';
import type { S3Location } from '../../shared/s3-location.ts';
import { type PreprocessBatch, type PreprocessResult, PreprocessResultSchema } from '../../shared/stage-events.ts';
import { THUMBNAIL_MAX_SIDE, ThumbnailPackSchema, thumbnailName, thumbnailPackKey } from '../../shared/thumbnails.ts';
import { createHandler } from '../../stages/preprocess/handler.ts';
import { KEPT_MAX_BYTES } from '../../stages/preprocess/model-input.ts';
import { type PreprocessDeps, runPreprocess } from '../../stages/preprocess/preprocess.ts';
import {
  arithmeticJpeg,
  GAMMA_CHUNK,
  iccProfileDescribedAs,
  jpegPaddedTo,
  jpegWithIccProfile,
  SRGB_CHUNK,
  withPngChunks,
} from '../helpers/image-encodings.ts';
import {
  ACCEPTED_INPUTS,
  BLUE,
  badInputSet,
  exifRotatedJpeg,
  markedImage,
  RED,
  REJECTED_INPUTS,
  type Rgb,
  sceneImage,
  type TestImage,
  testPreprocessSettings,
  truncatedJpeg,
  WHITE,
} from '../helpers/images.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { testWire } from '../helpers/stage-wiring.ts';

const DATASET_BUCKET = 'preprocess-dataset';
const PIPELINE_BUCKET = 'preprocess-pipeline';
const MISSING_KEY = 'images/deleted-after-listing.jpg';
const clock: Clock = { now: () => new Date('2025-06-01T02:00:00.000Z') };

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly attributes?: Record<string, unknown>;
}

class RecordingLog implements Log {
  readonly lines: LogLine[] = [];
  debug(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'debug', message, ...(attributes ? { attributes } : {}) });
  }
  info(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'info', message, ...(attributes ? { attributes } : {}) });
  }
  warn(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'warn', message, ...(attributes ? { attributes } : {}) });
  }
  error(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: 'error', message, ...(attributes ? { attributes } : {}) });
  }
}

/** Passes every call through to another store; subclasses count or fail calls. */
class PassThroughObjectStore implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}
  list(prefix: S3Location): AsyncIterable<ObjectSummary> {
    return this.inner.list(prefix);
  }
  open(location: S3Location): Promise<OpenedObject | undefined> {
    return this.inner.open(location);
  }
  get(location: S3Location): Promise<Uint8Array | undefined> {
    return this.inner.get(location);
  }
  lines(location: S3Location): AsyncIterable<string> {
    return this.inner.lines(location);
  }
  put(location: S3Location, body: string | Uint8Array, contentType: string): Promise<void> {
    return this.inner.put(location, body, contentType);
  }
  putStream(location: S3Location, chunks: AsyncIterable<string>, contentType: string): Promise<void> {
    return this.inner.putStream(location, chunks, contentType);
  }
  deletePrefix(prefix: S3Location): Promise<number> {
    return this.inner.deletePrefix(prefix);
  }
}

/** Remembers which objects were asked for. */
class CountingObjectStore extends PassThroughObjectStore {
  readonly opens: string[] = [];
  override open(location: S3Location): Promise<OpenedObject | undefined> {
    this.opens.push(location.key);
    return super.open(location);
  }
}

/** Holds every body read until `release()`, remembering which GETs answered and which reads started. */
class GatedReads extends PassThroughObjectStore {
  readonly answered: string[] = [];
  readonly started: string[] = [];
  private released = false;
  private readonly waiting: (() => void)[] = [];
  override async open(location: S3Location): Promise<OpenedObject | undefined> {
    const object = await super.open(location);
    this.answered.push(location.key);
    if (object === undefined) return undefined;
    return {
      size: object.size,
      discard: () => object.discard(),
      read: async () => {
        this.started.push(location.key);
        if (!this.released) await new Promise<void>((resolve) => this.waiting.push(resolve));
        return object.read();
      },
    };
  }
  release(): void {
    this.released = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/**
 * An HTTP agent that keeps the sockets it opens, so a test can tell how many bytes came in over the wire (Node's
 * `socket.bytesRead`), not how many the SDK handed on.
 */
class ByteCountingAgent extends Agent {
  private readonly sockets_: Socket[] = [];
  override createConnection(
    options: ClientRequestArgs,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    if (socket instanceof Socket) this.sockets_.push(socket);
    return socket;
  }
  get bytesRead(): number {
    return this.sockets_.reduce((sum, socket) => sum + socket.bytesRead, 0);
  }
  /** Sockets given to a request and not back in the pool: one whose body nobody reads stays here. */
  get busySockets(): number {
    return Object.values(this.sockets).reduce((sum, sockets) => sum + (sockets?.length ?? 0), 0);
  }
}

/** Fails every write of a JSON Lines object the way a dropped connection does: with a plain Error. */
class FailingPartWrites extends PassThroughObjectStore {
  override put(location: S3Location, body: string | Uint8Array, contentType: string): Promise<void> {
    if (location.key.endsWith('.jsonl')) return Promise.reject(new Error('socket hang up'));
    return super.put(location, body, contentType);
  }
}

describe('preprocess stage over the local S3 and DynamoDB servers', () => {
  let aws: LocalAws;
  let objects: S3ObjectStore;
  let predictions: DynamoPredictionStore;
  let predictionsTable: string;
  let images: TestImage[];

  beforeAll(async () => {
    aws = await startLocalAws();
    await Promise.all([aws.createBucket(DATASET_BUCKET), aws.createBucket(PIPELINE_BUCKET)]);
    ({ predictionsTable } = await aws.createTables());
    objects = new S3ObjectStore(aws.s3);
    predictions = new DynamoPredictionStore(aws.doc, predictionsTable);
    images = await badInputSet();
    await Promise.all(
      images.map((image) => objects.put({ bucket: DATASET_BUCKET, key: image.key }, image.body, image.contentType)),
    );
  });
  afterAll(async () => {
    await aws?.stop();
  });

  const image = (key: string): TestImage => {
    const found = images.find((candidate) => candidate.key === key);
    if (!found) throw new Error(`no test image ${key}`);
    return found;
  };

  /** Items as the plan writes them from a listing: with their sizes. */
  const listed = (chosen: readonly TestImage[], firstIndex = 0): DatasetItem[] =>
    chosen.map((entry, offset) => ({
      index: firstIndex + offset,
      bucket: DATASET_BUCKET,
      key: entry.key,
      size: entry.body.byteLength,
    }));

  const batchOf = (runId: string, items: DatasetItem[], settings = testPreprocessSettings()): PreprocessBatch => ({
    Items: items,
    BatchInput: { runId, pipelineBucket: PIPELINE_BUCKET, settings },
  });

  const depsWith = (overrides: Partial<PreprocessDeps> = {}): PreprocessDeps => ({
    objects,
    predictions,
    clock,
    log: new RecordingLog(),
    ...overrides,
  });

  const keysUnder = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    for await (const object of objects.list({ bucket: PIPELINE_BUCKET, key: prefix })) keys.push(object.key);
    return keys;
  };

  const readPart = async (key: string): Promise<TransformRecord[]> => {
    const records: TransformRecord[] = [];
    for await (const line of objects.lines({ bucket: PIPELINE_BUCKET, key })) {
      records.push(TransformRecordSchema.parse(JSON.parse(line)));
    }
    return records;
  };

  const readJson = async (key: string): Promise<unknown> => {
    const body = await objects.get({ bucket: PIPELINE_BUCKET, key });
    if (!body) throw new Error(`s3://${PIPELINE_BUCKET}/${key} does not exist`);
    return JSON.parse(Buffer.from(body).toString('utf8'));
  };

  const rowsOf = async (runId: string): Promise<OutcomeRecord[]> => {
    const rows: OutcomeRecord[] = [];
    for await (const row of predictions.list(runId)) rows.push(row);
    return rows;
  };

  describe('a batch holding one of every kind of input', () => {
    const runId = 'run-every-kind';
    const log = new RecordingLog();
    let items: DatasetItem[];
    let result: PreprocessResult;
    let records: TransformRecord[];
    let rows: OutcomeRecord[];

    const recordFor = (key: string): TransformRecord => {
      const record = records.find((candidate) => candidate.key === key);
      if (!record) throw new Error(`no transform record for ${key}`);
      return record;
    };

    beforeAll(async () => {
      // The deleted object comes without a size, as a manifest line would name it.
      items = [...listed(images), { index: images.length, bucket: DATASET_BUCKET, key: MISSING_KEY }];
      result = await runPreprocess(batchOf(runId, items), depsWith({ log }));
      records = result.part ? await readPart(result.part) : [];
      rows = await rowsOf(runId);
    });

    it('returns small counts that add up to the items, grouped by reason', () => {
      const expectedByReason: Record<string, number> = { NOT_FOUND: 1 };
      for (const spec of REJECTED_INPUTS) {
        expectedByReason[spec.expected.reason] = (expectedByReason[spec.expected.reason] ?? 0) + 1;
      }

      expect(PreprocessResultSchema.parse(result)).toEqual({
        part: `${runLayout.transformInput(runId)}part-000000000.jsonl`,
        records: ACCEPTED_INPUTS.length,
        rejected: REJECTED_INPUTS.length + 1,
        rejectedByReason: expectedByReason,
      });
      expect(result.records + result.rejected).toBe(items.length);
    });

    it('ends every item as exactly one transform record or one rejection row', () => {
      const outcomes = [...records.map((record) => record.key), ...rows.map((row) => row.key)].sort();

      expect(outcomes).toEqual(items.map((item) => item.key).sort());
    });

    it.each(REJECTED_INPUTS)(
      'stores $name as a REJECTED row ($expected.reason) whose message names the object',
      (spec) => {
        const row = rows.find((candidate) => candidate.key === spec.key);

        expect(RejectionRecordSchema.parse(row)).toEqual({
          runId,
          key: spec.key,
          bucket: DATASET_BUCKET,
          outcome: 'REJECTED',
          reason: spec.expected.reason,
          message: expect.stringContaining(`s3://${DATASET_BUCKET}/${spec.key} `),
          stage: 'preprocess',
          updatedAt: '2025-06-01T02:00:00.000Z',
        });
      },
    );

    it('says in words what is wrong with each rejected input', () => {
      const messages = Object.fromEntries(rows.map((row) => [row.key, row.outcome === 'REJECTED' ? row.message : '']));

      expect(messages).toMatchObject({
        'images/empty.png': expect.stringMatching(/is empty \(0 bytes\)$/),
        'images/truncated.jpg': expect.stringMatching(/is a damaged or truncated JPEG image/),
        'images/not-an-image.jpg': expect.stringMatching(/is not an image/),
        'images/vector.png': expect.stringMatching(/is in SVG format; only JPEG, PNG/),
        'images/decompression-bomb.png': expect.stringMatching(/is 20000 x 20000 pixels .*preprocess\.maxInputPixels/),
        'images/too-large.png': expect.stringMatching(/is 1\.\d MiB, more than the 1\.0 MiB allowed/),
        [MISSING_KEY]: expect.stringMatching(/does not exist/),
      });
    });

    it('stores an object deleted after the listing as NOT_FOUND', () => {
      const row = rows.find((candidate) => candidate.key === MISSING_KEY);

      expect(row).toMatchObject({ outcome: 'REJECTED', reason: 'NOT_FOUND', stage: 'preprocess' });
    });

    it.each(ACCEPTED_INPUTS)(
      "turns $name into 8-bit sRGB 3-channel model input of its geometry's size",
      async (spec) => {
        const record = recordFor(spec.key);

        const decoded = await sharp(Buffer.from(record.input.image, 'base64')).metadata();

        expect(decoded).toMatchObject({ format: 'jpeg', channels: 3, depth: 'uchar', space: 'srgb' });
        expect({ width: decoded.width, height: decoded.height }).toEqual({
          width: record.geometry.width,
          height: record.geometry.height,
        });
        expect(record.input).toMatchObject({ format: 'jpeg', width: decoded.width, height: decoded.height });
        expect(record.geometry).toMatchObject({
          originalWidth: spec.expected.width,
          originalHeight: spec.expected.height,
        });
        expect(Math.max(decoded.width, decoded.height)).toBeLessThanOrEqual(256);
      },
    );

    it("shrinks a large image within the canvas ('inside') and leaves a small one at its own size", () => {
      expect(recordFor('images/clean.jpg').geometry).toMatchObject({ width: 256, height: 192, scaleX: 0.4 });
      expect(recordFor('images/animated.gif').geometry).toMatchObject({ width: 64, height: 48, scaleX: 1, scaleY: 1 });
    });

    it('turns the EXIF-rotated JPEG upright: the original size is the swapped one and red is on top', async () => {
      const record = recordFor('images/exif-rotated.jpg');

      const pixels = await decodePixels(record);

      expect(record.geometry).toMatchObject({ originalWidth: 160, originalHeight: 320, width: 128, height: 256 });
      // Left as stored, the upper right would be blue and the lower left red.
      expect(pixels.at(100, 32)).toSatisfy(near(RED));
      expect(pixels.at(28, 224)).toSatisfy(near(BLUE));
    });

    it('keeps only the first frame of the animated GIF', async () => {
      const record = recordFor('images/animated.gif');

      const pixels = await decodePixels(record);

      expect(pixels.height).toBe(48);
      expect(pixels.at(32, 24)).toSatisfy(near(RED));
    });

    it('flattens transparency onto white', async () => {
      const pixels = await decodePixels(recordFor('images/transparent.png'));

      expect(pixels.at(2, 2)).toSatisfy(near(WHITE));
      expect(pixels.at(50, 50)).toSatisfy(near(BLUE));
    });

    it('writes the lines in item order, and an index sidecar naming the same objects line by line', async () => {
      const acceptedKeys = new Set(ACCEPTED_INPUTS.map((spec) => spec.key));

      const index = await readJson(`${runLayout.transformIndex(runId)}part-000000000.json`);

      expect(records.map((record) => record.id)).toEqual(
        items.filter((item) => acceptedKeys.has(item.key)).map((item) => item.index),
      );
      expect(index).toEqual(records.map(({ id, key, bucket }) => ({ id, key, bucket })));
    });

    it("writes the batch's thumbnails as one pack holding one WebP per accepted object, and no object per image", async () => {
      const pack = ThumbnailPackSchema.parse(await readJson(thumbnailPackKey(runId, 'part-000000000')));

      expect(await keysUnder(runLayout.thumbnails(runId))).toEqual([thumbnailPackKey(runId, 'part-000000000')]);
      expect(Object.keys(pack).sort()).toEqual(
        records.map((record) => thumbnailName(record.bucket, record.key)).sort(),
      );
      for (const encoded of Object.values(pack)) {
        expect((await sharp(Buffer.from(encoded, 'base64')).metadata()).format).toBe('webp');
      }
    });

    it('logs one warning per rejection and one summary', () => {
      const warnings = log.lines.filter((line) => line.level === 'warn');
      const summaries = log.lines.filter((line) => line.level === 'info');

      expect(warnings.map((line) => line.attributes?.key).sort()).toEqual(rows.map((row) => row.key).sort());
      expect(summaries).toEqual([
        { level: 'info', message: 'preprocessed a batch', attributes: { items: items.length, ...result } },
      ]);
    });
  });

  describe('an image that already is the model input travels as its own bytes', () => {
    const runId = 'run-kept-bytes';
    const settings = testPreprocessSettings();
    // Each under the 256 x 256 canvas of the test settings unless it says otherwise.
    const cases = {
      upright: { key: 'kept/upright.jpg', make: () => sceneImage(200, 150, 'jpeg') },
      srgbProfile: {
        key: 'kept/srgb-profile.jpg',
        make: async () =>
          sharp(await sceneImage(200, 150, 'png'))
            .withIccProfile('srgb')
            .jpeg()
            .toBuffer(),
      },
      iecSrgbProfile: {
        key: 'kept/iec-srgb-profile.jpg',
        make: async () =>
          jpegWithIccProfile(await sceneImage(200, 150, 'jpeg'), await iccProfileDescribedAs('sRGB IEC61966-2.1')),
      },
      exactCanvas: { key: 'kept/exact-canvas.jpg', make: () => sceneImage(256, 256, 'jpeg') },
      // Made by jpegtran -arithmetic: sharp decodes it, many decoders do not.
      arithmetic: { key: 'kept/arithmetic.jpg', make: async () => arithmeticJpeg() },
      linearSrgbProfile: {
        key: 'kept/linear-srgb-profile.jpg',
        make: async () =>
          jpegWithIccProfile(await sceneImage(200, 150, 'jpeg'), await iccProfileDescribedAs('Linear sRGB')),
      },
      oriented: { key: 'kept/oriented.jpg', make: () => exifRotatedJpeg({ width: 200, height: 100 }) },
      oversized: { key: 'kept/oversized.jpg', make: () => sceneImage(400, 300, 'jpeg') },
      cmyk: {
        key: 'kept/cmyk.jpg',
        make: async () =>
          sharp(await sceneImage(200, 100, 'png'))
            .toColourspace('cmyk')
            .jpeg()
            .toBuffer(),
      },
      greyscale: {
        key: 'kept/grey.jpg',
        make: async () =>
          sharp(await sceneImage(200, 100, 'png'))
            .toColourspace('b-w')
            .jpeg()
            .toBuffer(),
      },
      displayP3: {
        key: 'kept/display-p3.jpg',
        make: async () =>
          sharp(await sceneImage(200, 150, 'png'))
            .withIccProfile('p3')
            .jpeg()
            .toBuffer(),
      },
      // 64 x 48 pixels are 9,216 bytes raw; the description makes the file larger than that.
      mostlyMetadata: {
        key: 'kept/mostly-metadata.jpg',
        make: async () =>
          sharp(await sceneImage(64, 48, 'png'))
            .withExif({ IFD0: { ImageDescription: 'x'.repeat(20_000) } })
            .jpeg()
            .toBuffer(),
      },
      png: { key: 'kept/scene.png', make: () => sceneImage(200, 150, 'png') },
      // In size, upright, sRGB: it would travel unchanged, but its second half is missing.
      truncated: { key: 'kept/truncated.jpg', make: truncatedJpeg },
    } as const;
    type Case = keyof typeof cases;
    const bodies = new Map<Case, Buffer>();
    let records: TransformRecord[];
    let result: PreprocessResult;

    const recordOf = (name: Case): TransformRecord => {
      const record = records.find((candidate) => candidate.key === cases[name].key);
      if (!record) throw new Error(`no transform record for ${cases[name].key}`);
      return record;
    };
    const sentBytes = (name: Case) => Buffer.from(recordOf(name).input.image, 'base64');
    const body = (name: Case): Buffer => {
      const made = bodies.get(name);
      if (!made) throw new Error(`no body for ${name}`);
      return made;
    };

    beforeAll(async () => {
      const names = Object.keys(cases) as Case[];
      for (const name of names) bodies.set(name, await cases[name].make());
      await Promise.all(
        names.map((name) =>
          objects.put({ bucket: DATASET_BUCKET, key: cases[name].key }, body(name), 'application/octet-stream'),
        ),
      );
      const items = names.map((name, index) => ({ index, bucket: DATASET_BUCKET, key: cases[name].key }));
      // The truncated JPEG is 320 x 240: a canvas of 320 makes it one that would be kept.
      result = await runPreprocess(batchOf(runId, items, { ...settings, width: 320, height: 320 }), depsWith());
      records = result.part ? await readPart(result.part) : [];
    });

    it.each(['upright', 'srgbProfile', 'iecSrgbProfile', 'exactCanvas'] as const)(
      'sends the %s JPEG byte for byte, at scale 1, as the JPEG it is',
      (name) => {
        const record = recordOf(name);

        expect(sentBytes(name).equals(body(name))).toBe(true);
        expect(record.input.format).toBe('jpeg');
        expect(record.geometry).toMatchObject({
          scaleX: 1,
          scaleY: 1,
          offsetX: 0,
          offsetY: 0,
          width: record.input.width,
          height: record.input.height,
        });
      },
    );

    it.each([
      ['oriented', 'has EXIF orientation 6'],
      ['oversized', 'is larger than the canvas'],
      ['cmyk', 'is CMYK'],
      ['greyscale', 'has one channel'],
      ['displayP3', 'has a Display P3 profile'],
      ['arithmetic', 'is arithmetic-coded, SOF9'],
      ['linearSrgbProfile', 'has an ICC profile described as Linear sRGB'],
      ['mostlyMetadata', 'is larger than its raw pixels'],
      ['png', 'is a PNG while the encoding is jpeg'],
    ] as const)('re-encodes the %s image (it %s) as 3-channel sRGB JPEG', async (name, _why) => {
      const sent = sentBytes(name);

      const decoded = await sharp(sent).metadata();

      expect(sent.equals(body(name))).toBe(false);
      expect(decoded).toMatchObject({ format: 'jpeg', channels: 3, space: 'srgb' });
      expect(decoded.icc).toBeUndefined();
      expect(decoded.orientation ?? 1).toBe(1);
      expect({ width: decoded.width, height: decoded.height }).toEqual({
        width: recordOf(name).input.width,
        height: recordOf(name).input.height,
      });
    });

    it('rejects a truncated JPEG that would otherwise travel unchanged, as CORRUPT_IMAGE naming it', async () => {
      const rows = await rowsOf(runId);

      expect(result.rejectedByReason).toEqual({ CORRUPT_IMAGE: 1 });
      expect(rows).toEqual([
        expect.objectContaining({
          key: cases.truncated.key,
          reason: 'CORRUPT_IMAGE',
          message: expect.stringMatching(/truncated\.jpg is a damaged or truncated JPEG image/),
        }),
      ]);
    });

    it('makes the thumbnail of a kept JPEG from its own bytes, shrunk to the thumbnail size', async () => {
      const pack = ThumbnailPackSchema.parse(await readJson(thumbnailPackKey(runId, 'part-000000000')));
      const encoded = pack[thumbnailName(DATASET_BUCKET, cases.upright.key)] ?? '';

      const thumbnail = await sharp(Buffer.from(encoded, 'base64')).metadata();

      expect(thumbnail).toMatchObject({ format: 'webp', width: THUMBNAIL_MAX_SIDE, height: 120 });
    });

    it('keeps a PNG that needs no change when the encoding is png', async () => {
      const png = body('png');
      const items = [{ index: 0, bucket: DATASET_BUCKET, key: cases.png.key }];

      const kept = await runPreprocess(
        batchOf('run-kept-png', items, testPreprocessSettings({ encoding: 'png' })),
        depsWith(),
      );
      const [record] = await readPart(kept.part ?? '');

      expect(record?.input.format).toBe('png');
      expect(Buffer.from(record?.input.image ?? '', 'base64').equals(png)).toBe(true);
    });

    it('re-encodes a PNG with gAMA and no sRGB chunk when the encoding is png, and keeps one whose sRGB chunk overrides it', async () => {
      const png = await sceneImage(200, 150, 'png');
      const bodies = {
        'kept/gamma.png': withPngChunks(png, [GAMMA_CHUNK]),
        'kept/gamma-and-srgb.png': withPngChunks(png, [GAMMA_CHUNK, SRGB_CHUNK]),
      };
      await Promise.all(
        Object.entries(bodies).map(([key, bytes]) => objects.put({ bucket: DATASET_BUCKET, key }, bytes, 'image/png')),
      );
      const items = Object.keys(bodies).map((key, index) => ({ index, bucket: DATASET_BUCKET, key }));

      const done = await runPreprocess(
        batchOf('run-png-gamma', items, testPreprocessSettings({ encoding: 'png' })),
        depsWith(),
      );
      const sent = new Map(
        (await readPart(done.part ?? '')).map((record) => [record.key, Buffer.from(record.input.image, 'base64')]),
      );

      const reencoded = sent.get('kept/gamma.png') ?? Buffer.alloc(0);
      expect(reencoded.equals(bodies['kept/gamma.png'])).toBe(false);
      expect(await sharp(reencoded).metadata()).toMatchObject({ format: 'png', width: 200, height: 150, channels: 3 });
      expect(reencoded.includes('gAMA')).toBe(false);
      expect(sent.get('kept/gamma-and-srgb.png')?.equals(bodies['kept/gamma-and-srgb.png'])).toBe(true);
    });

    it('sends a JPEG of KEPT_MAX_BYTES unchanged and re-encodes one a byte larger, so the record fits 1 MiB', async () => {
      // 800 x 600 is 1.44 MB raw, so the size, not the pixels, bounds the kept bytes; noise at quality 100 makes
      // most of the file picture, and comment segments bring it to the exact size.
      const settings = testPreprocessSettings({ width: 800, height: 600 });
      const noise = await sharp({
        create: {
          width: 800,
          height: 600,
          channels: 3,
          background: WHITE,
          noise: { type: 'gaussian', mean: 128, sigma: 40 },
        },
      })
        .jpeg({ quality: 100 })
        .toBuffer();
      const bodies = {
        'kept/at-limit.jpg': jpegPaddedTo(noise, KEPT_MAX_BYTES),
        'kept/over-limit.jpg': jpegPaddedTo(noise, KEPT_MAX_BYTES + 1),
      };
      await Promise.all(
        Object.entries(bodies).map(([key, bytes]) => objects.put({ bucket: DATASET_BUCKET, key }, bytes, 'image/jpeg')),
      );
      const items = Object.keys(bodies).map((key, index) => ({ index, bucket: DATASET_BUCKET, key }));

      const done = await runPreprocess(batchOf('run-kept-limit', items, settings), depsWith());
      const records = new Map((await readPart(done.part ?? '')).map((record) => [record.key, record]));
      const sent = (key: string) => Buffer.from(records.get(key)?.input.image ?? '', 'base64');

      expect(noise.length).toBeLessThan(KEPT_MAX_BYTES);
      expect(sent('kept/at-limit.jpg').equals(bodies['kept/at-limit.jpg'])).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(records.get('kept/at-limit.jpg')?.input))).toBeLessThan(1024 * 1024);
      const reencoded = sent('kept/over-limit.jpg');
      expect(reencoded.equals(bodies['kept/over-limit.jpg'])).toBe(false);
      expect(reencoded.length).toBeLessThan(KEPT_MAX_BYTES);
      expect(await sharp(reencoded).metadata()).toMatchObject({ format: 'jpeg', width: 800, height: 600 });
      expect(records.get('kept/over-limit.jpg')?.geometry).toMatchObject({ scaleX: 1, scaleY: 1 });
    });
  });

  it('a retried batch overwrites its own part and leaves one row per rejected object', async () => {
    const runId = 'run-retried';
    const batch = batchOf(runId, listed([image('images/clean.jpg'), image('images/not-an-image.jpg')], 500));

    const first = await runPreprocess(batch, depsWith());
    const second = await runPreprocess(batch, depsWith());

    expect(second).toEqual(first);
    expect(await keysUnder(runLayout.transformInput(runId))).toEqual([
      `${runLayout.transformInput(runId)}part-000000500.jsonl`,
    ]);
    expect(await keysUnder(runLayout.transformIndex(runId))).toEqual([
      `${runLayout.transformIndex(runId)}part-000000500.json`,
    ]);
    expect((await readPart(`${runLayout.transformInput(runId)}part-000000500.jsonl`)).map((r) => r.id)).toEqual([500]);
    expect((await rowsOf(runId)).map((row) => row.key)).toEqual(['images/not-an-image.jpg']);
  });

  it('writes no part and no index when every item of the batch is rejected', async () => {
    const runId = 'run-all-bad';
    const batch = batchOf(runId, listed([image('images/empty.png'), image('images/truncated.jpg')]));

    const result = await runPreprocess(batch, depsWith());

    expect(result).toEqual({
      part: null,
      records: 0,
      rejected: 2,
      rejectedByReason: { EMPTY_OBJECT: 1, CORRUPT_IMAGE: 1 },
    });
    expect(await keysUnder(runLayout.root(runId))).toEqual([]);
    expect((await rowsOf(runId)).map((row) => row.key)).toEqual(['images/empty.png', 'images/truncated.jpg']);
  });

  it("pads to the exact canvas with 'contain', and the geometry maps a marked point back to where it was", async () => {
    const runId = 'run-contain';
    // A red square centred on (320, 120) in a 400 x 200 image.
    const body = await markedImage(400, 200, { left: 300, top: 100, size: 40 });
    await objects.put({ bucket: DATASET_BUCKET, key: 'marked/contain.png' }, body, 'image/png');
    const settings: PreprocessSettings = testPreprocessSettings({ fit: 'contain', encoding: 'png' });
    const items: DatasetItem[] = [{ index: 7, bucket: DATASET_BUCKET, key: 'marked/contain.png' }];

    const result = await runPreprocess(batchOf(runId, items, settings), depsWith());
    const [record] = await readPart(result.part ?? '');
    if (!record) throw new Error('no transform record');
    const pixels = await decodePixels(record);
    const centre = pixels.centroidOf(RED);
    const { scaleX, scaleY, offsetX, offsetY } = record.geometry;

    expect(record.input).toMatchObject({ format: 'png', width: 256, height: 256 });
    expect(record.geometry).toMatchObject({ originalWidth: 400, originalHeight: 200, offsetX: 0, offsetY: 64 });
    expect(pixels.at(128, 10)).toSatisfy(near(WHITE));
    expect((centre.x - offsetX) / scaleX).toBeCloseTo(320, 0);
    expect((centre.y - offsetY) / scaleY).toBeCloseTo(120, 0);
  });

  // 'inside' and 'contain' (the picture cut out of the padding) make the thumbnail from the model input; 'fill'
  // stretches the picture, and a 64 px input is smaller than the thumbnail, so those come from the original.
  it.each([
    { fit: 'inside', width: 256 },
    { fit: 'contain', width: 256 },
    { fit: 'fill', width: 256 },
    { fit: 'inside', width: 64 },
  ] as const)(
    'writes a small WebP thumbnail of each accepted original, aspect kept, so boxes in original pixels map onto it by one scale (fit $fit, $width px input)',
    async ({ fit, width }) => {
      const runId = `run-thumbnail-${fit}-${width}`;
      // A red square centred on (320, 120) in a 400 x 200 image.
      const body = await markedImage(400, 200, { left: 300, top: 100, size: 40 });
      await objects.put({ bucket: DATASET_BUCKET, key: 'marked/thumb.png' }, body, 'image/png');
      const items: DatasetItem[] = [{ index: 3, bucket: DATASET_BUCKET, key: 'marked/thumb.png' }];
      const settings = testPreprocessSettings({ fit, width, height: width });

      await runPreprocess(batchOf(runId, items, settings), depsWith());
      const packed = await objects.get({ bucket: PIPELINE_BUCKET, key: thumbnailPackKey(runId, 'part-000000003') });
      if (!packed) throw new Error('no thumbnail pack');
      const pack = ThumbnailPackSchema.parse(JSON.parse(Buffer.from(packed).toString('utf8')));
      const encoded = pack[thumbnailName(DATASET_BUCKET, 'marked/thumb.png')];
      if (!encoded) throw new Error('no thumbnail in the pack');
      const bytes = Buffer.from(encoded, 'base64');
      const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let sumX = 0;
      let sumY = 0;
      let red = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          const at = (y * info.width + x) * 3;
          if (isNear({ r: data[at] ?? 0, g: data[at + 1] ?? 0, b: data[at + 2] ?? 0 }, RED)) {
            sumX += x + 0.5;
            sumY += y + 0.5;
            red += 1;
          }
        }
      }

      expect((await sharp(bytes).metadata()).format).toBe('webp');
      expect({ width: info.width, height: info.height }).toEqual({
        width: THUMBNAIL_MAX_SIDE,
        height: THUMBNAIL_MAX_SIDE / 2,
      });
      expect(bytes.byteLength).toBeLessThan(6 * 1024);
      const scale = THUMBNAIL_MAX_SIDE / 400;
      expect(sumX / red).toBeCloseTo(320 * scale, 0);
      expect(sumY / red).toBeCloseTo(120 * scale, 0);
    },
  );

  it.each([
    ['listed with their sizes', true],
    ['named by a manifest, without sizes', false],
  ])(
    'reads no more bodies than the byte budget holds, and the rest as the first images are done: items %s (in-process gate on body reads)',
    async (_, withSizes) => {
      const gated = new GatedReads(objects);
      const clean = image('images/clean.jpg');
      const items: DatasetItem[] = [0, 1, 2, 3, 4].map((index) => ({
        index,
        bucket: DATASET_BUCKET,
        key: clean.key,
        ...(withSizes ? { size: clean.body.byteLength } : {}),
      }));
      const deps = depsWith({ objects: gated, downloadBudgetBytes: Math.floor(clean.body.byteLength * 2.5) });

      const run = runPreprocess(
        batchOf('run-byte-budget', items, testPreprocessSettings({ downloadConcurrency: 8 })),
        deps,
      );
      // A listed size is held before the GET, a manifest item's after its headers: either way only the budget holds
      // the reads back once the GETs the budget lets out have answered.
      await vi.waitFor(() => expect(gated.answered).toHaveLength(withSizes ? 2 : 5));
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
      const startedBeforeAnyFinished = gated.started.length;
      gated.release();
      const result = await run;

      expect(startedBeforeAnyFinished).toBe(2);
      expect(gated.started).toHaveLength(5);
      expect(result).toMatchObject({ records: 5, rejected: 0 });
    },
  );

  it('rejects an item whose listed size is over the limit without asking S3 for it', async () => {
    const counting = new CountingObjectStore(objects);
    const batch = batchOf('run-listed-too-large', listed([image('images/too-large.png')]));

    const result = await runPreprocess(batch, depsWith({ objects: counting }));

    expect(result.rejectedByReason).toEqual({ TOO_LARGE: 1 });
    expect(counting.opens).toEqual([]);
  });

  describe('manifest items (no sizes) over the wire: one GET each, no HEAD, an oversized body left unread', () => {
    const OVERSIZED_KEY = 'images/oversized-16mib.bin';
    const OVERSIZED_BYTES = 16 * 1024 * 1024;
    const runId = 'run-manifest-wire';
    const requests: string[] = [];
    const agent = new ByteCountingAgent({ keepAlive: true });
    let client: S3Client;
    let result: PreprocessResult;
    let rows: OutcomeRecord[];

    beforeAll(async () => {
      await objects.put({ bucket: DATASET_BUCKET, key: OVERSIZED_KEY }, new Uint8Array(OVERSIZED_BYTES), 'image/png');
      client = new S3Client({ ...s3ClientConfig(process.env), requestHandler: { httpAgent: agent } });
      // After the retry middleware, so every HTTP attempt is noted.
      client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { method: string; path: string };
          requests.push(`${request.method} ${decodeURIComponent(request.path)}`);
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'recordRequests' },
      );
      const items: DatasetItem[] = [
        OVERSIZED_KEY,
        'images/clean.png',
        'images/empty.png',
        MISSING_KEY,
        'images/clean.jpg',
      ].map((key, index) => ({ index, bucket: DATASET_BUCKET, key }));
      // Listed smaller than it is now: replaced by an oversized one after the listing.
      items.push({ index: items.length, bucket: DATASET_BUCKET, key: 'images/too-large.png', size: 10 });

      result = await runPreprocess(batchOf(runId, items), depsWith({ objects: new S3ObjectStore(client) }));
      rows = await rowsOf(runId);
    });
    afterAll(() => {
      client?.destroy();
    });

    it('ends every item as one record or one rejection with its reason', () => {
      expect(result).toMatchObject({
        records: 2,
        rejected: 4,
        rejectedByReason: { TOO_LARGE: 2, EMPTY_OBJECT: 1, NOT_FOUND: 1 },
      });
      const reasons = Object.fromEntries(rows.map((row) => [row.key, RejectionRecordSchema.parse(row).reason]));
      expect(reasons).toEqual({
        [OVERSIZED_KEY]: 'TOO_LARGE',
        'images/empty.png': 'EMPTY_OBJECT',
        [MISSING_KEY]: 'NOT_FOUND',
        'images/too-large.png': 'TOO_LARGE',
      });
    });

    it('sends exactly one GET and no HEAD per object', () => {
      const datasetRequests = requests.filter((request) => request.includes(`/${DATASET_BUCKET}/`)).sort();

      expect(datasetRequests).toEqual(
        [OVERSIZED_KEY, 'images/clean.png', 'images/empty.png', MISSING_KEY, 'images/clean.jpg', 'images/too-large.png']
          .map((key) => `GET /${DATASET_BUCKET}/${key}`)
          .sort(),
      );
    });

    it('refuses the oversized object from its response headers, naming its real size, with its body left unread', async () => {
      const row = rows.find((candidate) => candidate.key === OVERSIZED_KEY);
      const replaced = rows.find((candidate) => candidate.key === 'images/too-large.png');

      expect(RejectionRecordSchema.parse(row).message).toMatch(
        /oversized-16mib\.bin is 16\.0 MiB, more than the 1\.0 MiB/,
      );
      const replacedMiB = (image('images/too-large.png').body.byteLength / (1024 * 1024)).toFixed(1);
      expect(RejectionRecordSchema.parse(replaced).message).toContain(`too-large.png is ${replacedMiB} MiB, more than`);
      // Everything the batch received, both accepted images and the responses to its writes included, is a small
      // part of the one refused body.
      expect(agent.bytesRead).toBeLessThan(OVERSIZED_BYTES / 8);
      // The refused bodies' connections were closed, not left holding their sockets.
      await vi.waitFor(() => expect(agent.busySockets).toBe(0));
    });
  });

  it('rejects an event that is not a preprocess batch at the handler with InvalidInputError naming the field', async () => {
    const event = { Items: [], BatchInput: { runId: 'r', pipelineBucket: PIPELINE_BUCKET, settings: {} } };

    const attempt = createHandler(testWire(depsWith()))(event);

    await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
    await expect(attempt).rejects.toThrow(/preprocess batch is invalid: Items: /);
  });

  it('the Lambda handler wires itself from the environment and preprocesses a batch', async () => {
    const env = {
      ...process.env,
      PIPELINE_BUCKET,
      RUNS_TABLE: 'runs-unused-by-preprocess',
      PREDICTIONS_TABLE: predictionsTable,
      LOG_LEVEL: 'SILENT',
    };
    const handler = createHandler(wireFrom(env, lambdaClients(env)));
    const runId = 'run-through-handler';
    // Plain JSON, as Step Functions delivers it.
    const event: unknown = JSON.parse(
      JSON.stringify(batchOf(runId, listed([image('images/clean.png'), image('images/empty.png')], 40))),
    );

    const result = await handler(event);

    expect(result).toEqual({
      part: `${runLayout.transformInput(runId)}part-000000040.jsonl`,
      records: 1,
      rejected: 1,
      rejectedByReason: { EMPTY_OBJECT: 1 },
    });
    expect((await readPart(result.part ?? '')).map((record) => record.key)).toEqual(['images/clean.png']);
    expect(await rowsOf(runId)).toEqual([expect.objectContaining({ key: 'images/empty.png', reason: 'EMPTY_OBJECT' })]);
  });

  it('rejects an object S3 refuses to read as ACCESS_DENIED, keeping the batch (mocked S3 client: the local server never answers 403)', async () => {
    const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const s3Mock = mockClient(s3);
    s3Mock.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'Access Denied',
      }),
    );
    // One item listed with its size, one named by a manifest without.
    const items = [
      ...listed([image('images/clean.jpg')]),
      { index: 1, bucket: DATASET_BUCKET, key: 'images/clean.png' },
    ];
    const batch = batchOf('run-denied', items);

    const result = await runPreprocess(batch, depsWith({ objects: new S3ObjectStore(s3) }));

    expect(result).toMatchObject({ part: null, records: 0, rejected: 2, rejectedByReason: { ACCESS_DENIED: 2 } });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: DATASET_BUCKET, Key: 'images/clean.jpg' });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: DATASET_BUCKET, Key: 'images/clean.png' });
    expect(s3Mock).not.toHaveReceivedCommand(HeadObjectCommand);
    s3Mock.restore();
  });

  it('fails the batch with RetryableError when S3 answers 5xx (mocked S3 client: the local server cannot answer 5xx)', async () => {
    const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const s3Mock = mockClient(s3);
    s3Mock.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'InternalError',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
        message: 'We encountered an internal error. Please try again.',
      }),
    );
    const batch = batchOf('run-s3-down', listed([image('images/clean.jpg')]));

    const attempt = runPreprocess(batch, depsWith({ objects: new S3ObjectStore(s3) }));

    await expect(attempt).rejects.toBeInstanceOf(RetryableError);
    await expect(attempt).rejects.toThrow(/reading s3:\/\/preprocess-dataset\/images\/clean\.jpg failed/);
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: DATASET_BUCKET, Key: 'images/clean.jpg' });
    expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
    s3Mock.restore();
  });

  it('fails the batch with RetryableError when writing the part fails, and leaves no part (in-process fake: the local server cannot fail one write)', async () => {
    const runId = 'run-part-write-fails';
    const batch = batchOf(runId, listed([image('images/clean.jpg')]));

    const attempt = runPreprocess(batch, depsWith({ objects: new FailingPartWrites(objects) }));

    await expect(attempt).rejects.toBeInstanceOf(RetryableError);
    await expect(attempt).rejects.toThrow(
      /writing s3:\/\/preprocess-pipeline\/.*part-000000000\.jsonl failed \(socket hang up\)/,
    );
    expect(await keysUnder(runLayout.transformInput(runId))).toEqual([]);
  });
});

interface Pixels {
  readonly width: number;
  readonly height: number;
  at(x: number, y: number): Rgb;
  /** Mean position of the pixels near `colour`. */
  centroidOf(colour: Rgb): { x: number; y: number };
}

async function decodePixels(record: TransformRecord): Promise<Pixels> {
  const { data, info } = await sharp(Buffer.from(record.input.image, 'base64'))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number): Rgb => {
    const offset = (y * info.width + x) * info.channels;
    return { r: data[offset] ?? -1, g: data[offset + 1] ?? -1, b: data[offset + 2] ?? -1 };
  };
  return {
    width: info.width,
    height: info.height,
    at,
    centroidOf(colour) {
      let sumX = 0;
      let sumY = 0;
      let count = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          if (!isNear(at(x, y), colour)) continue;
          sumX += x + 0.5;
          sumY += y + 0.5;
          count += 1;
        }
      }
      return { x: sumX / count, y: sumY / count };
    },
  };
}

/** A predicate for `toSatisfy`: within JPEG's colour error of `expected`. */
function near(expected: Rgb): (actual: Rgb) => boolean {
  return (actual) => isNear(actual, expected);
}

function isNear(actual: Rgb, expected: Rgb, tolerance = 40): boolean {
  return (
    Math.abs(actual.r - expected.r) <= tolerance &&
    Math.abs(actual.g - expected.g) <= tolerance &&
    Math.abs(actual.b - expected.b) <= tolerance
  );
}
