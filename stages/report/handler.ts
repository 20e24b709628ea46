import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import type { ReportResult } from '../../shared/stage-events.ts';
import { loadChartJsSource } from './chart-script.ts';
import { parseReportEvent, type ReportDeps, runReport } from './report.ts';

type Wiring = Omit<ReportDeps, 'log'> & { readonly logger: Logger };

let wiring: Promise<Wiring> | undefined;

/** Builds the clients once per cold start, on the first invocation rather than at import. */
async function wire(): Promise<Wiring> {
  const config = parseStageConfig(process.env);
  const s3 = new S3Client(s3ClientConfig(process.env));
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return {
    objects: new S3ObjectStore(s3),
    runs: new DynamoRunStore(doc, config.runsTable, systemClock),
    predictions: new DynamoPredictionStore(doc, config.predictionsTable),
    clock: systemClock,
    logger: createStageLogger({ stage: 'report', level: config.logLevel }),
    // The bundle ships chart.umd.js beside this handler (or chart.js in node_modules); read once per cold start.
    chartJs: await loadChartJsSource(),
  };
}

/** Lambda entry point of the report stage. */
export async function handler(event: unknown): Promise<ReportResult> {
  wiring ??= wire().catch((error: unknown) => {
    wiring = undefined;
    throw error;
  });
  const { logger, ...deps } = await wiring;
  const input = parseReportEvent(event);
  return runReport(input, { ...deps, log: forRun(logger, input.runId) });
}
