import { createRequire } from 'node:module';

/** The OpenCV.js module (its WebAssembly runtime initialised). */
export type OpenCv = typeof import('@techstark/opencv-js');

let loading: Promise<{ readonly cv: OpenCv }> | undefined;

/**
 * Loads OpenCV's WebAssembly build once per process, on first use; `Mat` exists once its runtime is initialised.
 *
 * The Emscripten module object has a `then` method, so it must never be awaited, resolved or returned from an
 * async function (promise resolution would chase that `then` forever): it only ever travels wrapped in `{ cv }`.
 * For the same reason it is loaded with `require`, not `import`: a module namespace exporting `then` is itself a
 * thenable, and loaders that await namespaces (dynamic `import()`, vitest's module runner) would never settle.
 */
export function loadOpenCv(): Promise<{ readonly cv: OpenCv }> {
  loading ??= new Promise((resolve) => {
    const cv = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv;
    if (typeof cv.Mat === 'function') {
      resolve({ cv });
      return;
    }
    (cv as unknown as { onRuntimeInitialized: () => void }).onRuntimeInitialized = () => resolve({ cv });
  });
  return loading;
}
