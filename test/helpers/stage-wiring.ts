import { parseStageConfig, type StageConfig } from '../../shared/config.ts';
import { createStageLogger } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import type { StageWiring, Wire } from '../../shared/stage-handler.ts';

/**
 * A wiring for handler tests: the ports a test passes (logs silent unless it passes a logger), and a configuration from `env` (the variables
 * the stack would set). A port the test did not pass fails loudly when the stage calls it.
 */
export function testWire(ports: Partial<Omit<StageWiring, 'config'>>, env: Record<string, string> = {}): Wire {
  return (stage) => {
    const config: StageConfig = parseStageConfig({
      PIPELINE_BUCKET: 'test-pipeline',
      RUNS_TABLE: 'test-runs',
      PREDICTIONS_TABLE: 'test-predictions',
      ...env,
    });
    // A port the test did not pass: every call on it fails, naming it (stages pick their ports when first wired).
    const missing = (name: string) =>
      new Proxy(
        {},
        {
          get: (_target, property) =>
            property === 'then'
              ? undefined
              : () => {
                  throw new Error(`the test passed no ${name} to the ${stage} stage (${String(property)} called)`);
                },
        },
      );
    const port = <K extends keyof typeof ports>(name: K) => ports[name] ?? missing(name);
    return {
      config,
      clock: ports.clock ?? systemClock,
      logger: ports.logger ?? createStageLogger({ stage, level: 'SILENT' }),
      get objects() {
        return port('objects') as StageWiring['objects'];
      },
      get runs() {
        return port('runs') as StageWiring['runs'];
      },
      get predictions() {
        return port('predictions') as StageWiring['predictions'];
      },
      get notifier() {
        return port('notifier') as StageWiring['notifier'];
      },
      get starter() {
        return port('starter') as StageWiring['starter'];
      },
      get transformJobs() {
        return port('transformJobs') as StageWiring['transformJobs'];
      },
    };
  };
}
