import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { PreprocessBatchSchema } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { configureImageProcessing } from './image-processing.ts';
import { runPreprocess } from './preprocess.ts';

/** The preprocess stage (one Distributed Map ItemBatcher batch) over the wiring an entry point provides. */
export const createHandler = stageHandler({
  stage: 'preprocess',
  schema: PreprocessBatchSchema,
  eventName: 'preprocess batch',
  runId: (batch) => batch.BatchInput.runId,
  wire: ({ objects, predictions, clock }) => ({
    objects,
    predictions,
    clock,
    imageConcurrency: configureImageProcessing(),
  }),
  run: runPreprocess,
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
