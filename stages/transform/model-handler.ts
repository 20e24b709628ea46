import type { ModelOutput } from '../../shared/records.ts';

/** One record's image, decoded to 8-bit sRGB: `width * height * 3` bytes, row by row, R G B per pixel. */
export interface DecodedImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Reported on every output line, so each prediction says which model made it. */
export interface ModelIdentity {
  readonly name: string;
  readonly version: string;
}

/** What a handler returns for one image: a model output without `model` (the server adds it) and without `error`. */
export type Prediction = Omit<ModelOutput, 'model' | 'error'>;

/**
 * A model behind the server: loaded once at start, then asked for predictions a batch at a time.
 * Handlers see decoded images only; record validation, decoding errors and the HTTP contract are the server's.
 */
export interface ModelHandler {
  readonly model: ModelIdentity;
  /** Batches it predicts at once: the pool's running workers, 1 for a handler in this thread. */
  readonly parallelism: number;
  /** One prediction per image, in order. Throws only when the model itself fails (the server isolates the image). */
  predictBatch(images: readonly DecodedImage[]): Promise<Prediction[]>;
  /** Frees the inference sessions. */
  dispose(): Promise<void>;
}
