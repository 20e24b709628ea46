import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { describeError } from '../../shared/errors.ts';
import type { Log } from '../../shared/logging.ts';

/** What the operator asks for: `auto` uses CUDA where it works and the CPU otherwise. */
export type ExecutionProviderPreference = 'auto' | 'cuda' | 'cpu';
export type ExecutionProvider = 'cuda' | 'cpu';

/** What this machine offers, found without loading a model. */
export interface CudaProbe {
  /** `libonnxruntime_providers_cuda.so` is installed beside onnxruntime-node (the Docker image fetches it). */
  readonly providerLibrary: boolean;
  /** NVIDIA devices visible to this process (`/dev/nvidia0`, ...). */
  readonly gpus: number;
}

export function probeCuda(): CudaProbe {
  const require = createRequire(import.meta.url);
  // onnxruntime-node keeps its native libraries in bin/napi-v6/<platform>/<arch>/; the CUDA provider is the one
  // file its install script downloads on demand (ONNXRUNTIME_NODE_INSTALL=cuda12), so its presence is the test.
  const binDir = join(
    dirname(require.resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  let gpus = 0;
  try {
    gpus = readdirSync('/dev').filter((name) => /^nvidia\d+$/.test(name)).length;
  } catch {
    gpus = 0;
  }
  return { providerLibrary: existsSync(join(binDir, 'libonnxruntime_providers_cuda.so')), gpus };
}

export interface SessionFactoryOptions {
  readonly preference: ExecutionProviderPreference;
  /** Threads for one inference on the CPU. @default os.availableParallelism() */
  readonly intraOpThreads: number;
  readonly probe: CudaProbe;
  readonly log: Log;
}

/** Creates the inference sessions of one handler, all on the same execution provider. */
export interface SessionFactory {
  /** The provider sessions are created on; settles on `cpu` if CUDA fails under `auto`. */
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  create(model: Uint8Array, label: string): Promise<InferenceSession>;
}

/**
 * Session options, set on purpose rather than left to defaults:
 * - `graphOptimizationLevel: 'all'`: the models are frozen inference graphs, so every fusion is safe; the cost is
 *   paid once at load, before /ping answers 200.
 * - `intraOpNumThreads`: onnxruntime-node runs a session on the JS thread, so the server runs one inference at a
 *   time and that one may use every core. With CUDA the CPU threads only serve the few operators left on the CPU.
 * - `interOpNumThreads: 1` with `executionMode: 'sequential'`: the OCR graphs are chains; parallel branches would
 *   only add threads competing with the intra-op pool.
 * - `allow_spinning: '0'`: between inferences the JS thread decodes images and writes JSON (and sharp decodes on
 *   libuv threads); spinning ORT workers would steal those cores for no gain at these operator sizes.
 * - `logSeverityLevel: 3`: ORT's own warnings go to stderr unstructured; errors still surface as thrown errors.
 */
export function sessionOptions(provider: ExecutionProvider, intraOpThreads: number): InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: provider === 'cuda' ? Math.min(intraOpThreads, 2) : intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/**
 * Picks the execution provider: `cpu` always works; `cuda` fails the start if CUDA cannot be used (a GPU
 * deployment silently running on the CPU would be slow and costly); `auto` tries CUDA when a GPU and the provider
 * library are present and falls back to the CPU, saying why, if the first session cannot be created on it.
 */
export function createSessionFactory(options: SessionFactoryOptions): SessionFactory {
  const { preference, probe, log, intraOpThreads } = options;
  const cudaPossible = probe.providerLibrary && probe.gpus > 0;
  if (preference === 'cuda' && !cudaPossible) {
    throw new Error(
      `NIGHTSHIFT_EXECUTION_PROVIDER=cuda but CUDA cannot be used here: ${cudaMissing(probe)}; ` +
        'run on a GPU instance with the image built from stages/transform/Dockerfile, or use auto or cpu',
    );
  }
  let provider: ExecutionProvider = preference === 'cpu' || !cudaPossible ? 'cpu' : 'cuda';
  let verified = provider === 'cpu';
  log.info('execution provider chosen', {
    requested: preference,
    provider,
    intraOpThreads,
    gpus: probe.gpus,
    cudaProviderLibrary: probe.providerLibrary,
    ...(provider === 'cpu' && preference !== 'cpu' ? { why: cudaMissing(probe) } : {}),
  });

  return {
    get provider() {
      return provider;
    },
    intraOpThreads,
    async create(model, label) {
      if (verified) return InferenceSession.create(model, sessionOptions(provider, intraOpThreads));
      try {
        const session = await InferenceSession.create(model, sessionOptions('cuda', intraOpThreads));
        verified = true;
        return session;
      } catch (error) {
        if (preference === 'cuda') throw error;
        provider = 'cpu';
        verified = true;
        log.warn('CUDA session failed; falling back to the CPU', { model: label, error: describeError(error).message });
        return InferenceSession.create(model, sessionOptions('cpu', intraOpThreads));
      }
    },
  };
}

function cudaMissing(probe: CudaProbe): string {
  const missing: string[] = [];
  if (probe.gpus === 0) missing.push('no NVIDIA device is visible (/dev/nvidia0)');
  if (!probe.providerLibrary) {
    missing.push('onnxruntime-node has no CUDA provider library (install it with ONNXRUNTIME_NODE_INSTALL=cuda12)');
  }
  return missing.length === 0 ? 'CUDA is available' : missing.join(' and ');
}
