import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
  /** The host's NVIDIA kernel driver version (`/proc/driver/nvidia/version`), where a driver is loaded. */
  readonly driverVersion?: string;
  /** The CUDA runtime the image ships (`CUDA_VERSION`, set by the nvidia/cuda base images). */
  readonly cudaRuntime?: string;
}

/**
 * The oldest NVIDIA driver branch that runs a CUDA 12.x runtime: NVIDIA's minor-version compatibility table gives
 * ">= 525" for CUDA 12.x (docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html).
 */
export const MIN_DRIVER_FOR_CUDA_12 = 525;

/** The driver version in `/proc/driver/nvidia/version` ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03 ..."). */
export function parseDriverVersion(text: string): string | undefined {
  return /Kernel Module\s+(\d+(?:\.\d+)+)/.exec(text)?.[1];
}

/**
 * Why this host's driver cannot run the image's CUDA 12 runtime, and what to change; undefined when it can (or
 * when no driver is loaded, which {@link cudaMissing} reports). SageMaker Batch Transform runs `ml.g5`/`ml.g4dn`
 * jobs on a driver-470 (CUDA 11.4) AMI unless the job sets `TransformResources.TransformAmiVersion` to
 * `al2-ami-sagemaker-batch-gpu-535` (SageMaker "Best practices to minimize interruptions during GPU driver
 * upgrades", docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html).
 */
export function driverProblem(probe: CudaProbe): string | undefined {
  const major = Number.parseInt(probe.driverVersion ?? '', 10);
  if (!Number.isFinite(major) || major >= MIN_DRIVER_FOR_CUDA_12) return undefined;
  return (
    `the NVIDIA driver ${probe.driverVersion} is older than ${MIN_DRIVER_FOR_CUDA_12}, the oldest that runs this ` +
    `image's CUDA ${probe.cudaRuntime ?? '12'} runtime; on SageMaker Batch Transform set TransformAmiVersion to ` +
    "al2-ami-sagemaker-batch-gpu-535 (the stack's transformAmiVersion prop or `-c transformAmiVersion=...`), " +
    'on other hosts install driver 525 or newer'
  );
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
  let driverVersion: string | undefined;
  try {
    driverVersion = parseDriverVersion(readFileSync('/proc/driver/nvidia/version', 'utf8'));
  } catch {
    driverVersion = undefined;
  }
  return {
    providerLibrary: existsSync(join(binDir, 'libonnxruntime_providers_cuda.so')),
    gpus,
    ...(driverVersion ? { driverVersion } : {}),
    ...(process.env.CUDA_VERSION ? { cudaRuntime: process.env.CUDA_VERSION } : {}),
  };
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
  const oldDriver = driverProblem(probe);
  log.info('execution provider chosen', {
    requested: preference,
    provider,
    intraOpThreads,
    gpus: probe.gpus,
    cudaProviderLibrary: probe.providerLibrary,
    nvidiaDriver: probe.driverVersion ?? 'none',
    cudaRuntime: probe.cudaRuntime ?? 'none',
    ...(oldDriver ? { driverProblem: oldDriver } : {}),
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
        if (preference === 'cuda') {
          throw new Error(
            `the ${label} model cannot run on CUDA: ${describeError(error).message}` +
              (oldDriver ? `; ${oldDriver}` : '; check the driver (nvidia-smi) against the CUDA 12 runtime'),
            { cause: error },
          );
        }
        provider = 'cpu';
        verified = true;
        log.warn('CUDA session failed; falling back to the CPU', {
          model: label,
          error: describeError(error).message,
          ...(oldDriver ? { why: oldDriver } : {}),
        });
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
