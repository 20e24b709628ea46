/**
 * Local runs live in the CLI's process, so a run whose process dies (Ctrl-C before it recorded the end, SIGKILL, a
 * crash after its DynamoDB server died) would stay RUNNING forever. The owning process writes itself onto the run
 * record with a heartbeat ({@link RunHeartbeat}); every later local command calls {@link failOrphanedRuns}, which
 * marks a RUNNING run whose owner is gone FAILED with cause "interrupted", so `redrive --local` can finish it.
 * An owner that knew why it failed but could not write it (its DynamoDB server died) leaves the cause in the state
 * folder ({@link keepUnrecordedFailure}), and the sweep records that cause instead.
 */

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type RunRecord, RunRecordSchema } from '../../shared/records.ts';
import { RUNS_TABLE } from '../../shared/tables.ts';
import { isRunning, type ProcessIdentity, processIdentity } from './process-identity.ts';
import { readStateFile } from './state-file.ts';

/** How often the owner writes its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 5000;

/** The error name a run gets when its owning process went away. */
export const INTERRUPTED_ERROR = 'Interrupted';

/** Writes this process as the owner of a run, now and every {@link HEARTBEAT_INTERVAL_MS}, while the run is RUNNING. */
export class RunHeartbeat {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly owner: ProcessIdentity;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly runsTable: string,
    private readonly runId: string,
  ) {
    this.owner = processIdentity() as ProcessIdentity;
  }

  /**
   * Beats every 250 ms until the record (created by the plan stage) carries the owner, then every
   * {@link HEARTBEAT_INTERVAL_MS}: a run that dies in its first seconds must already name its owner.
   */
  start(): void {
    const next = (owned: boolean) => {
      this.timer = setTimeout(
        () => void this.beat().then((wrote) => !this.stopped && next(owned || wrote)),
        owned ? HEARTBEAT_INTERVAL_MS : 250,
      );
      this.timer.unref();
    };
    void this.beat().then((wrote) => !this.stopped && next(wrote));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One heartbeat; the record may not exist yet (the plan stage creates it), and a server may be gone: both wait. */
  async beat(): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.runsTable,
          Key: { [RUNS_TABLE.partitionKey]: this.runId },
          UpdateExpression: 'SET #owner = :owner, #heartbeat = :now',
          ConditionExpression: 'attribute_exists(#pk) AND #status = :running',
          ExpressionAttributeNames: {
            '#pk': RUNS_TABLE.partitionKey,
            '#owner': 'owner',
            '#heartbeat': 'heartbeatAt',
            '#status': 'status',
          },
          ExpressionAttributeValues: { ':owner': this.owner, ':now': new Date().toISOString(), ':running': 'RUNNING' },
        }),
      );
      return true;
    } catch {
      // Not created yet, already ended, or the server is down: the next beat (or the sweep) settles it.
      return false;
    }
  }
}

/** A failure its owner could not record on the run (the run record's server was gone). */
export interface UnrecordedFailure {
  readonly error: string;
  readonly cause: string;
}

const UNRECORDED_DIR = 'unrecorded-failures';

function unrecordedFile(stateDir: string, runId: string): string | undefined {
  // Run ids are safe file names (RUN_ID); anything else is never written or read.
  return /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(runId) ? join(stateDir, UNRECORDED_DIR, `${runId}.json`) : undefined;
}

/** Keeps why a run failed for the next {@link failOrphanedRuns} on this state folder, which records it. */
export async function keepUnrecordedFailure(
  stateDir: string,
  runId: string,
  failure: UnrecordedFailure,
): Promise<void> {
  const file = unrecordedFile(stateDir, runId);
  if (!file) return;
  await mkdir(join(stateDir, UNRECORDED_DIR), { recursive: true });
  await writeFile(file, `${JSON.stringify(failure)}\n`);
}

async function takeUnrecordedFailure(
  stateDir: string | undefined,
  runId: string,
): Promise<UnrecordedFailure | undefined> {
  const file = stateDir === undefined ? undefined : unrecordedFile(stateDir, runId);
  if (!file) return undefined;
  const parsed = (await readStateFile(file)) as Partial<UnrecordedFailure> | null | undefined;
  return typeof parsed?.error === 'string' && typeof parsed.cause === 'string'
    ? { error: parsed.error, cause: parsed.cause }
    : undefined;
}

/**
 * Marks FAILED ("interrupted") every RUNNING run whose recorded owner is no longer running, conditionally on the
 * record still naming that owner, so a run that a live process finishes meanwhile is left alone. Runs without an
 * owner (written before owners were recorded, or on AWS) are not touched. With `stateDir`, a cause the owner kept
 * there ({@link keepUnrecordedFailure}) is recorded instead of "interrupted". Returns the run ids it marked.
 */
export async function failOrphanedRuns(
  doc: DynamoDBDocumentClient,
  runsTable: string,
  stateDir?: string,
): Promise<string[]> {
  const orphaned: RunRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: runsTable,
        IndexName: RUNS_TABLE.statusIndex.name,
        KeyConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': RUNS_TABLE.statusIndex.partitionKey },
        ExpressionAttributeValues: { ':running': 'RUNNING' },
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      const parsed = RunRecordSchema.safeParse(item);
      if (parsed.success && parsed.data.owner && !isRunning(parsed.data.owner)) orphaned.push(parsed.data);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const marked: string[] = [];
  for (const run of orphaned) {
    const owner = run.owner as ProcessIdentity;
    const now = new Date().toISOString();
    const kept = await takeUnrecordedFailure(stateDir, run.runId);
    try {
      await doc.send(
        new UpdateCommand({
          TableName: runsTable,
          Key: { [RUNS_TABLE.partitionKey]: run.runId },
          UpdateExpression: 'SET #status = :failed, #error = :error, finishedAt = :now, updatedAt = :now',
          ConditionExpression: '#status = :running AND #owner.pid = :pid',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':failed': 'FAILED',
            ':running': 'RUNNING',
            ':pid': owner.pid,
            ':now': now,
            ':error': kept ?? {
              error: INTERRUPTED_ERROR,
              cause:
                `interrupted: process ${owner.pid}, which ran it, ended before recording the end ` +
                `(last heartbeat ${run.heartbeatAt ?? 'none'}); finish it with \`nightshift redrive --local ${run.runId}\``,
            },
          },
        }),
      );
      marked.push(run.runId);
      if (kept && stateDir !== undefined) await rm(unrecordedFile(stateDir, run.runId) as string, { force: true });
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }
  return marked;
}
