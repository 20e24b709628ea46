/**
 * Reading runs where the pipeline stores them: the runs table, the predictions table and the report files in the
 * pipeline bucket. Both backends read the same way; only the clients and names differ (the stack's, or the local
 * servers').
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { isNotFound } from '../../shared/aws/aws-errors.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import type { Clock } from '../../shared/ports.ts';
import {
  type OutcomeRecord,
  RUN_STATUSES,
  type RunRecord,
  RunRecordSchema,
  type RunStatus,
} from '../../shared/records.ts';
import { formatS3Uri, type S3Location } from '../../shared/s3-location.ts';
import { RUNS_TABLE } from '../../shared/tables.ts';
import { reportLocations } from '../../stages/report/report.ts';
import { RunReportSchema } from '../../stages/report/run-report.ts';
import { awsCall, CliFailure, explainAwsError } from './failures.ts';
import type { ReportFiles, RunAccuracy, RunListing, RunsQuery, RunView } from './run-backend.ts';

/** Where one backend's runs are stored, and how to name that place in messages. */
export interface RunStorage {
  /** For messages: `stack Nightshift in us-east-1`, `the local servers (/repo/.nightshift)`. */
  readonly where: string;
  /** The backend's selector (`''` or `' --local'`), for commands quoted in messages. */
  readonly selector: string;
  readonly pipelineBucket: string;
  readonly runsTable: string;
  readonly predictionsTable: string;
  readonly s3: S3Client;
  readonly doc: DynamoDBDocumentClient;
}

/** The read side of a backend: `status`, `runs`, `report` and `predictions`. */
export class StoredRuns {
  constructor(
    readonly storage: RunStorage,
    private readonly clock: Clock,
  ) {}

  /** The run's record, or RUN_NOT_FOUND saying where the CLI looked and how to list what is there. */
  async get(runId: string): Promise<RunRecord> {
    const run = await this.find(runId);
    if (!run) {
      const { runsTable, where, selector } = this.storage;
      throw new CliFailure(
        'RUN_NOT_FOUND',
        `run "${runId}" not found in table ${runsTable} (${where}): list runs with \`nightshift runs${selector}\``,
      );
    }
    return run;
  }

  /** The run's record, or undefined when there is none. */
  find(runId: string): Promise<RunRecord | undefined> {
    const { doc, runsTable } = this.storage;
    return awsCall(`dynamodb:GetItem on ${runsTable}`, () => new DynamoRunStore(doc, runsTable, this.clock).get(runId));
  }

  /**
   * The newest runs first. One status: a Query on the `byStatus` index (status, createdAt), newest first. Every
   * status: the same Query once per status, merged by `createdAt` — a Scan returns rows in hash order, so it would
   * have to read the whole table to find the newest; three bounded Queries read at most `limit` rows each.
   */
  async list(query: RunsQuery): Promise<RunListing> {
    const statuses: readonly RunStatus[] = query.status ? [query.status] : RUN_STATUSES;
    const pages = await Promise.all(statuses.map((status) => this.newestWithStatus(status, query.limit)));
    const runs = pages
      .flatMap((page) => page.runs)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, query.limit);
    const accuracy: Record<string, RunAccuracy | null> = {};
    await Promise.all(
      runs.map(async (run) => {
        const value = await this.accuracy(run);
        if (value !== undefined) accuracy[run.runId] = value;
      }),
    );
    return {
      runs,
      accuracy,
      skipped: pages.reduce((sum, page) => sum + page.skipped, 0),
      runsTable: this.storage.runsTable,
    };
  }

  /**
   * The accuracy in the run's report.json (the runs table does not carry it): undefined when the run has no report
   * or it cannot be read, null when no item had expected text. A few KB per run.
   */
  /** A run as `status` shows it: the record, and its accuracy where the report has one. */
  async view(runId: string): Promise<RunView> {
    const run = await this.get(runId);
    const accuracy = await this.accuracy(run);
    return { run, ...(accuracy === undefined ? {} : { accuracy }) };
  }

  async accuracy(run: RunRecord): Promise<RunAccuracy | null | undefined> {
    if (!run.report) return undefined;
    const location = reportLocations(run.runId, this.storage.pipelineBucket).json;
    try {
      const out = await this.storage.s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
      const text = (await out.Body?.transformToString()) ?? '';
      const parsed = RunReportSchema.shape.accuracy.safeParse((JSON.parse(text) as { accuracy?: unknown }).accuracy);
      return parsed.success ? parsed.data : undefined;
    } catch {
      // The figure is an extra on a listing: a missing or unreadable report leaves it out rather than fail the list.
      return undefined;
    }
  }

  /** The run's rows in key order, after checking the run exists: "no such run" and "no rows yet" differ. */
  async predictions(runId: string, filter: { readonly keyPrefix?: string }): Promise<AsyncIterable<OutcomeRecord>> {
    await this.get(runId);
    const { doc, predictionsTable } = this.storage;
    const rows = new DynamoPredictionStore(doc, predictionsTable).list(runId, {
      ...(filter.keyPrefix ? { keyPrefix: filter.keyPrefix } : {}),
    });
    return (async function* () {
      try {
        yield* rows;
      } catch (error) {
        throw explainAwsError(error, `dynamodb:Query on ${predictionsTable}`);
      }
    })();
  }

  /** Downloads report.json, predictions.csv and report.html into `directory`; NO_REPORT says why there are none. */
  async downloadReport(runId: string, directory: string): Promise<ReportFiles> {
    const run = await this.get(runId);
    if (!run.report) {
      const why =
        run.status === 'RUNNING'
          ? `it is still RUNNING and the report is written at the end: follow it with \`nightshift watch ${runId}\``
          : `it ${run.status} before the report stage: see \`nightshift status ${runId}${this.storage.selector}\``;
      throw new CliFailure('NO_REPORT', `run "${runId}" has no report: ${why}`);
    }
    await mkdir(directory, { recursive: true });
    const locations = reportLocations(runId, this.storage.pipelineBucket);
    const files: ReportFiles = {
      json: join(directory, 'report.json'),
      csv: join(directory, 'predictions.csv'),
      html: join(directory, 'report.html'),
    };
    for (const part of ['json', 'csv', 'html'] as const) await this.download(locations[part], files[part], runId);
    return files;
  }

  private async download(location: S3Location, path: string, runId: string): Promise<void> {
    await awsCall(`s3:GetObject ${formatS3Uri(location)}`, async () => {
      try {
        const out = await this.storage.s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
        const body = out.Body instanceof Readable ? out.Body : Readable.from([]);
        await pipeline(body, createWriteStream(path));
      } catch (error) {
        if (isNotFound(error)) {
          throw new CliFailure(
            'NO_REPORT',
            `run "${runId}" lists a report but ${formatS3Uri(location)} does not exist: re-run the report stage ` +
              '(redrive the run) or check the bucket lifecycle rules',
            { cause: error },
          );
        }
        throw error;
      }
    });
  }

  private async newestWithStatus(status: RunStatus, limit: number): Promise<Omit<RunListing, 'runsTable'>> {
    const { doc, runsTable } = this.storage;
    const runs: RunRecord[] = [];
    let skipped = 0;
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    do {
      const page: QueryCommandOutput = await awsCall(`dynamodb:Query on ${runsTable}`, () =>
        doc.send(
          new QueryCommand({
            TableName: runsTable,
            IndexName: RUNS_TABLE.statusIndex.name,
            KeyConditionExpression: '#status = :status',
            ExpressionAttributeNames: { '#status': RUNS_TABLE.statusIndex.partitionKey },
            ExpressionAttributeValues: { ':status': status },
            ScanIndexForward: false,
            Limit: limit - runs.length - skipped,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const parsed = RunRecordSchema.safeParse(item);
        if (parsed.success) runs.push(parsed.data);
        else skipped += 1;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && runs.length + skipped < limit);
    return { runs, skipped };
  }
}
