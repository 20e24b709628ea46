/**
 * One inference worker thread of the {@link InferencePool}: loads the model handler once, then predicts the
 * batches the pool posts, one at a time. Runs off the server's event loop, so OpenCV.js, tensor building and
 * `InferenceSession.run` never delay `/ping`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../../shared/errors.ts';
import { asLog, createStageLogger } from '../../shared/logging.ts';
import { createSessionFactory, probeCuda } from './execution-provider.ts';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './inference-messages.ts';
import { loadModelHandler } from './model-directory.ts';

const port = parentPort;
if (port === null) throw new Error('inference-worker.ts runs as a worker thread of the model server');
const settings = workerData as WorkerSettings;
const log = asLog(createStageLogger({ stage: 'transform', level: settings.logLevel }));
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

try {
  const factory = createSessionFactory({
    preference: settings.preference,
    intraOpThreads: settings.intraOpThreads,
    probe: probeCuda(),
    log,
  });
  const handler = await loadModelHandler(settings.directory, factory, log, {
    ...(settings.cacheDirectory !== undefined ? { cacheDirectory: settings.cacheDirectory } : {}),
  });
  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'dispose') {
      void handler.dispose().finally(() => port.close());
      return;
    }
    handler.predictBatch(request.images).then(
      (predictions) => reply({ type: 'predictions', id: request.id, predictions }),
      (error: unknown) => reply({ type: 'failed', id: request.id, message: describeError(error).message }),
    );
  });
  reply({ type: 'ready', model: handler.model, provider: factory.provider });
} catch (error) {
  reply({ type: 'load-failed', message: describeError(error).message });
}
