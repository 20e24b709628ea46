/**
 * The model server's entry point: `serve` in the container (SageMaker runs `docker run <image> serve`), or
 * `node --import tsx stages/transform/serve.ts [--port 0] [--model-dir DIR]` on any machine.
 *
 * It listens first, so /ping can answer 503 while the model loads, then loads the model and turns /ping to 200.
 * Logs are JSON lines on stdout; `"message":"model server listening"` carries the port (useful with `--port 0`),
 * `"message":"model server ready"` follows once the model is loaded. A model that cannot be loaded ends the
 * process with status 1, after logging why.
 */
import { availableParallelism } from 'node:os';
import { describeError } from '../../shared/errors.ts';
import { asLog, createStageLogger } from '../../shared/logging.ts';
import { recommendExecutionParameters } from './execution-parameters.ts';
import { probeCuda } from './execution-provider.ts';
import { choosePoolSize, InferencePool } from './inference-pool.ts';
import { chooseModelDirectory } from './model-directory.ts';
import { ModelServer } from './server.ts';
import { parseServerConfig, type ServerConfig } from './server-config.ts';

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = parseServerConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${describeError(error).message}\n`);
    process.exit(2);
  }
  // No run id on these lines: one server serves every run.
  const log = asLog(createStageLogger({ stage: 'transform', level: config.logLevel }));
  const server = new ModelServer({
    imagesPerBatch: config.imagesPerBatch,
    ...(config.maxQueuedRequests !== undefined ? { maxQueuedRequests: config.maxQueuedRequests } : {}),
    log,
  });
  let handler: InferencePool | undefined;
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info('model server stopping', { why });
    await server.close();
    await handler?.dispose();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (config.exitWithStdin) {
    process.stdin.on('end', () => void stop('stdin closed'));
    process.stdin.resume();
  }

  const port = await server.listen(config.port, config.host);
  log.info('model server listening', {
    host: config.host,
    port,
    batchTransform: config.batchTransform,
    ...(config.batchStrategy ? { batchStrategy: config.batchStrategy } : {}),
  });

  try {
    const choice = chooseModelDirectory(config.modelDirectory);
    log.info('model directory', { ...choice });
    const probe = probeCuda();
    const gpu = config.executionProvider !== 'cpu' && probe.gpus > 0 && probe.providerLibrary;
    const size = choosePoolSize({
      cpus: availableParallelism(),
      provider: gpu ? 'cuda' : 'cpu',
      ...(config.workers !== undefined ? { workers: config.workers } : {}),
      ...(config.intraOpThreads !== undefined ? { intraOpThreads: config.intraOpThreads } : {}),
      ...(config.maxConcurrentTransforms !== undefined
        ? { maxConcurrentTransforms: config.maxConcurrentTransforms }
        : {}),
    });
    handler = await InferencePool.start(
      {
        directory: choice.directory,
        preference: config.executionProvider,
        logLevel: config.logLevel,
        ...(config.modelCacheDirectory !== undefined ? { cacheDirectory: config.modelCacheDirectory } : {}),
      },
      size,
      log,
    );
    const parameters = recommendExecutionParameters(
      { workers: size.workers, provider: handler.provider },
      { maxConcurrentTransforms: config.maxConcurrentTransforms, maxPayloadInMB: config.maxPayloadInMB },
    );
    server.ready({ handler, parameters });
    log.info('model server ready', {
      model: handler.model,
      executionProvider: handler.provider,
      workers: size.workers,
      intraOpThreads: size.intraOpThreads,
      ...parameters,
    });
  } catch (error) {
    log.error('the model could not be loaded', { error: describeError(error) });
    await server.close();
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
