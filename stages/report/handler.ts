import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { ReportEventSchema } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { loadChartJsSource } from './chart-script.ts';
import { runReport } from './report.ts';

/** The report stage over the wiring an entry point provides; Chart.js is read once per cold start. */
export const createHandler = stageHandler({
  stage: 'report',
  schema: ReportEventSchema,
  runId: (event) => event.runId,
  wire: async ({ objects, runs, predictions, clock }) => {
    const chartJs = await loadChartJsSource();
    return { objects, runs, predictions, clock, chartJs };
  },
  run: runReport,
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
