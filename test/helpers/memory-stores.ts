import { ObjectNotFoundError } from '../../shared/errors.ts';
import type {
  ClaimRunResult,
  CreateRunResult,
  ObjectStore,
  ObjectSummary,
  OpenedObject,
  PredictionStore,
  RunStore,
} from '../../shared/ports.ts';
import type { OutcomeRecord, RunRecord } from '../../shared/records.ts';
import type { S3Location } from '../../shared/s3-location.ts';

/**
 * In-process stores for scale tests the local servers cannot run in test time (a million keys).
 * Integration tests use the real servers; these are for unit tests that say so in their names.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  /** Keys in the order they were written. */
  readonly writes: string[] = [];

  constructor(private readonly listing?: (prefix: S3Location) => AsyncIterable<ObjectSummary>) {}

  private id(location: S3Location): string {
    return `${location.bucket}/${location.key}`;
  }

  async *list(prefix: S3Location): AsyncIterable<ObjectSummary> {
    if (this.listing) {
      yield* this.listing(prefix);
      return;
    }
    const keys = [...this.objects.keys()].filter((id) => id.startsWith(this.id(prefix))).sort();
    for (const id of keys) yield { key: id.slice(prefix.bucket.length + 1), size: this.objects.get(id)?.length ?? 0 };
  }

  async open(location: S3Location): Promise<OpenedObject | undefined> {
    const body = this.objects.get(this.id(location));
    return body === undefined ? undefined : { size: body.length, read: async () => body, discard: () => {} };
  }

  async get(location: S3Location): Promise<Uint8Array | undefined> {
    return this.objects.get(this.id(location));
  }

  async *lines(location: S3Location): AsyncIterable<string> {
    const body = this.objects.get(this.id(location));
    if (body === undefined) throw new ObjectNotFoundError(`${this.id(location)} does not exist`);
    const text = new TextDecoder().decode(body);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    yield* lines;
  }

  async put(location: S3Location, body: string | Uint8Array): Promise<void> {
    this.objects.set(this.id(location), typeof body === 'string' ? new TextEncoder().encode(body) : body);
    this.writes.push(this.id(location));
  }

  async putStream(location: S3Location, chunks: AsyncIterable<string>): Promise<void> {
    let text = '';
    for await (const chunk of chunks) text += chunk;
    await this.put(location, text);
  }

  async deletePrefix(prefix: S3Location): Promise<number> {
    const keys = [...this.objects.keys()].filter((id) => id.startsWith(this.id(prefix)));
    for (const key of keys) this.objects.delete(key);
    return keys.length;
  }

  text(location: S3Location): string | undefined {
    const body = this.objects.get(this.id(location));
    return body === undefined ? undefined : new TextDecoder().decode(body);
  }
}

export class MemoryRunStore implements RunStore {
  readonly records = new Map<string, RunRecord>();

  async create(record: RunRecord): Promise<CreateRunResult> {
    const existing = this.records.get(record.runId);
    if (existing) return { created: false, existing };
    this.records.set(record.runId, structuredClone(record));
    return { created: true };
  }

  async claim(
    runId: string,
    owner: { readonly executionId: string; readonly settingsHash: string },
  ): Promise<ClaimRunResult> {
    const existing = this.records.get(runId);
    if (!existing) throw new Error(`no run ${runId}`);
    const otherLive = existing.status === 'RUNNING' && existing.executionId !== owner.executionId;
    if (existing.settingsHash !== owner.settingsHash || otherLive) return { claimed: false, existing };
    const { finishedAt: _finished, error: _error, failedAttempt: _attempt, ...kept } = existing;
    this.records.set(runId, { ...kept, status: 'RUNNING', executionId: owner.executionId });
    return { claimed: true };
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    return this.records.get(runId);
  }

  async update(runId: string, changes: Partial<Omit<RunRecord, 'runId'>>): Promise<void> {
    const existing = this.records.get(runId);
    if (!existing) throw new Error(`no run ${runId}`);
    this.records.set(runId, { ...existing, ...changes });
  }

  async previousRun(run: Pick<RunRecord, 'runId' | 'dataset' | 'createdAt'>): Promise<RunRecord | undefined> {
    return [...this.records.values()]
      .filter((r) => r.status === 'SUCCEEDED' && r.dataset === run.dataset && r.createdAt < run.createdAt)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  }
}

export class MemoryPredictionStore implements PredictionStore {
  readonly rows = new Map<string, OutcomeRecord>();

  async put(records: readonly OutcomeRecord[]): Promise<void> {
    for (const record of records) this.rows.set(`${record.runId}\u0000${record.key}`, record);
  }

  async *list(runId: string, options: { readonly keyPrefix?: string } = {}): AsyncIterable<OutcomeRecord> {
    const rows = [...this.rows.values()].filter(
      (row) => row.runId === runId && row.key.startsWith(options.keyPrefix ?? ''),
    );
    yield* rows.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async existing(runId: string, keys: readonly string[]): Promise<Set<string>> {
    return new Set(keys.filter((key) => this.rows.has(`${runId}\u0000${key}`)));
  }

  async deleteRun(runId: string): Promise<number> {
    const keys = [...this.rows.keys()].filter((key) => key.startsWith(`${runId}\u0000`));
    for (const key of keys) this.rows.delete(key);
    return keys.length;
  }
}
