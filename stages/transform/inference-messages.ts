import type { LogLevel } from '../../shared/logging.ts';
import type { ExecutionProvider, ExecutionProviderPreference } from './execution-provider.ts';
import type { DecodedImage, ModelIdentity, Prediction } from './model-handler.ts';

/** What each inference worker thread is started with. */
export interface WorkerSettings {
  readonly directory: string;
  readonly preference: ExecutionProviderPreference;
  readonly intraOpThreads: number;
  readonly logLevel: LogLevel;
  /** Where derived model files are cached between starts (`NIGHTSHIFT_MODEL_CACHE_DIR`); absent: no cache. */
  readonly cacheDirectory?: string;
}

/** The pool to a worker: predict one batch, or free the sessions and stop. */
export type WorkerRequest =
  | { readonly type: 'predict'; readonly id: number; readonly images: readonly DecodedImage[] }
  | { readonly type: 'dispose' };

/** A worker to the pool. */
export type WorkerReply =
  | { readonly type: 'ready'; readonly model: ModelIdentity; readonly provider: ExecutionProvider }
  | { readonly type: 'load-failed'; readonly message: string }
  | { readonly type: 'predictions'; readonly id: number; readonly predictions: Prediction[] }
  | { readonly type: 'failed'; readonly id: number; readonly message: string };
