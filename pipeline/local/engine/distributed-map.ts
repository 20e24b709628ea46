/**
 * A Map state in DISTRIBUTED mode: a Map Run whose iterations are child executions ("Using Map state in Distributed
 * mode", Step Functions Developer Guide).
 *
 * 1. Items come from the `ItemReader` (S3) or from `ItemsPath` in the state input.
 * 2. `ItemSelector` shapes each item, with `$$.Map.Item.Index` / `$$.Map.Item.Value`.
 * 3. `ItemBatcher` groups items into child inputs `{Items: [...], BatchInput: {...}}`, closing a batch when it has
 *    `MaxItemsPerBatch` items or adding the next would pass `MaxInputBytesPerBatch` (the JSON text of the whole child
 *    input); an item larger than that alone still forms its own batch, and the child then fails on the 256 KiB quota.
 * 4. Each child is a separate execution of the ItemProcessor with its own ARN, history and quotas: STANDARD children
 *    have the 25,000-event history quota; EXPRESS children have none (and keep no history) but stop after 5 minutes
 *    (TIMED_OUT). Up to `MaxConcurrency` run at once (0: up to 10,000, the Distributed Map limit), capped by the engine.
 * 5. Failed (or timed-out) *items* are counted against `ToleratedFailureCount` / `ToleratedFailurePercentage` (of
 *    all items); with neither, one failure is too many. Past the threshold the Map Run fails at once: running children
 *    are aborted, the rest stay PENDING, and the state fails with `States.ExceedToleratedFailureThreshold`.
 * 6. The result is the children's outputs in item order (a failed child's entry as `ResultWriter` NONE would write it),
 *    or, with a `ResultWriter` that exports to S3, `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`. Results are
 *    exported for a failed Map Run too.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { AbortGroup } from './abort-group.ts';
import type { MapState } from './asl.ts';
import { StatesError, StatesErrors } from './engine-errors.ts';
import type { EngineServices } from './engine-services.ts';
import type { ExecutionResult, MapRunDescription, MapRunItemCounts } from './engine-types.ts';
import type { ExecutionHistory } from './execution-history.ts';
import type { ContextObject } from './integrations.ts';
import { readItems } from './item-reader.ts';
import { parseJsonPath, selectPath } from './json-path.ts';
import { evaluatePayloadTemplate, preview } from './payload-template.ts';
import { type ChildRecord, transformedEntries, writeResults } from './result-writer.ts';

/** Who a child execution is; the engine builds and runs it. */
export interface ChildExecutionScope {
  readonly arn: string;
  readonly name: string;
  readonly startTime: Date;
  readonly stateMachine: { readonly arn: string; readonly name: string };
  readonly type: 'STANDARD' | 'EXPRESS';
  readonly redriveCount: number;
  readonly mapRunArn: string;
}

export type MapRunChildRunner = (child: {
  scope: ChildExecutionScope;
  input: unknown;
  signal: AbortSignal;
}) => Promise<{ result: ExecutionResult; history: ExecutionHistory }>;

export interface DistributedMapRequest {
  readonly services: EngineServices;
  readonly parent: {
    readonly arn: string;
    readonly stateMachine: { readonly arn: string; readonly name: string };
  };
  readonly history: ExecutionHistory;
  readonly stateName: string;
  readonly state: MapState;
  readonly effectiveInput: unknown;
  readonly context: ContextObject;
  readonly maxConcurrency: number;
  readonly signal: AbortSignal;
  readonly runChild: MapRunChildRunner;
}

/** "MaxConcurrency ... up to 10,000 parallel child workflow executions" for a Distributed Map. */
const DISTRIBUTED_MAX_CONCURRENCY = 10_000;

export async function runDistributedMap(request: DistributedMapRequest): Promise<unknown> {
  const { services, state, effectiveInput, context, signal, stateName } = request;
  const scope = { input: effectiveInput, context, runtime: services.intrinsics };
  const items = await loadItems(request);
  const selected = items.map((item, index) =>
    state.ItemSelector
      ? evaluatePayloadTemplate(state.ItemSelector, {
          ...scope,
          context: { ...context, Map: { Item: { Index: index, Value: item } } },
        })
      : item,
  );
  const batches = batch(request, selected);
  const toleratedCount =
    state.ToleratedFailureCount ??
    optionalNumber(state.ToleratedFailureCountPath, effectiveInput, 'ToleratedFailureCountPath');
  const toleratedPercentage =
    state.ToleratedFailurePercentage ??
    optionalNumber(state.ToleratedFailurePercentagePath, effectiveInput, 'ToleratedFailurePercentagePath');

  const label = state.Label ?? stateName;
  const mapRunId = randomUUID();
  const smName = request.parent.stateMachine.name;
  const { region, accountId } = services;
  const mapRunArn = `arn:aws:states:${region}:${accountId}:mapRun:${smName}/${label}:${mapRunId}`;
  const childMachine = {
    arn: `arn:aws:states:${region}:${accountId}:stateMachine:${smName}/${label}`,
    name: `${smName}/${label}`,
  };
  const executionType = state.ItemProcessor.ProcessorConfig.ExecutionType ?? 'STANDARD';
  const concurrency = request.maxConcurrency === 0 ? DISTRIBUTED_MAX_CONCURRENCY : request.maxConcurrency;

  const children: ChildRecord[] = batches.map((input, index) => {
    const name = randomUUID();
    return {
      index,
      name,
      executionArn:
        executionType === 'EXPRESS'
          ? `arn:aws:states:${region}:${accountId}:express:${childMachine.name}:${mapRunId}:${name}`
          : `arn:aws:states:${region}:${accountId}:execution:${childMachine.name}:${name}`,
      stateMachineArn: childMachine.arn,
      input: input.value,
      status: 'PENDING',
    };
  });
  const itemsPerChild = batches.map((b) => b.items);
  const run = new MapRunCounters(items.length, batches.length);
  const started = services.clock.now();
  const describe = (status: MapRunDescription['status']): MapRunDescription => ({
    mapRunArn,
    executionArn: request.parent.arn,
    stateName,
    status,
    startDate: started,
    ...(status === 'RUNNING' ? {} : { stopDate: services.clock.now() }),
    maxConcurrency: request.maxConcurrency,
    toleratedFailurePercentage: toleratedPercentage ?? 0,
    toleratedFailureCount: toleratedCount ?? 0,
    itemCounts: run.items(),
    executionCounts: run.executions(),
  });
  services.mapRuns.set(mapRunArn, describe('RUNNING'));
  request.history.record('MapRunStarted', { mapRunStartedEventDetails: { mapRunArn } });
  services.emit({
    type: 'MapRunStarted',
    executionArn: request.parent.arn,
    mapRunArn,
    stateName,
    itemCounts: run.items(),
  });

  const group = new AbortGroup(signal);
  let thresholdExceeded = false;
  const exceeded = (): boolean => {
    const failed = run.failedItems();
    if (toleratedCount === undefined && toleratedPercentage === undefined) return failed > 0;
    if (toleratedCount !== undefined && failed > toleratedCount) return true;
    return toleratedPercentage !== undefined && items.length > 0 && (failed / items.length) * 100 > toleratedPercentage;
  };

  const limit = pLimit(Math.max(1, Math.min(concurrency, services.concurrencyCap)));
  await Promise.all(
    children.map((child, index) =>
      limit(async () => {
        if (group.signal.aborted) return;
        const weight = itemsPerChild[index] as number;
        const startDate = services.clock.now();
        children[index] = { ...child, startDate };
        run.start(weight);
        const { result } = await group.run((childSignal) =>
          request.runChild({
            scope: {
              arn: child.executionArn,
              name: child.name,
              startTime: startDate,
              stateMachine: childMachine,
              type: executionType,
              redriveCount: 0,
              mapRunArn,
            },
            input: child.input,
            signal: childSignal,
          }),
        );
        children[index] = {
          ...child,
          startDate,
          stopDate: result.stopDate,
          status: result.status,
          ...(result.status === 'SUCCEEDED' ? { output: result.output } : {}),
          ...(result.error === undefined ? {} : { error: result.error }),
          ...(result.cause === undefined ? {} : { cause: result.cause }),
        };
        run.finish(weight, result.status);
        services.mapRuns.set(mapRunArn, describe('RUNNING'));
        services.emit({
          type: 'MapRunProgress',
          executionArn: request.parent.arn,
          mapRunArn,
          stateName,
          itemCounts: run.items(),
        });
        if (!thresholdExceeded && result.status !== 'SUCCEEDED' && result.status !== 'ABORTED' && exceeded()) {
          thresholdExceeded = true;
          group.abort(
            new StatesError(
              StatesErrors.ExceedToleratedFailureThreshold,
              'The specified tolerated failure threshold was exceeded',
            ),
          );
        }
      }),
    ),
  );
  group.close();

  const end = async (status: 'SUCCEEDED' | 'FAILED' | 'ABORTED', failure?: StatesError): Promise<void> => {
    services.mapRuns.set(mapRunArn, describe(status));
    if (status === 'SUCCEEDED') request.history.record('MapRunSucceeded');
    else if (status === 'FAILED') {
      request.history.record('MapRunFailed', {
        mapRunFailedEventDetails: { error: failure?.error, cause: failure?.cause },
      });
    } else request.history.record('MapRunAborted');
    services.emit({
      type: 'MapRunEnded',
      executionArn: request.parent.arn,
      mapRunArn,
      stateName,
      status,
      itemCounts: run.items(),
    });
  };

  if (signal.aborted) {
    await end('ABORTED');
    throw signal.reason;
  }
  const writer = state.ResultWriter;
  let details: { Bucket: string; Key: string } | undefined;
  if (writer?.Resource !== undefined && writer.Parameters !== undefined) {
    if (services.s3 === undefined)
      throw new StatesError(StatesErrors.ResultWriterFailed, 'the local engine has no S3 client');
    try {
      const parameters = evaluatePayloadTemplate(writer.Parameters, scope) as Record<string, unknown>;
      details = await writeResults(services.s3, { config: writer, parameters, mapRunArn, mapRunId, children, signal });
      run.written(
        children.filter((c) => c.status !== 'PENDING').reduce((sum, c) => sum + (itemsPerChild[c.index] as number), 0),
      );
    } catch (error) {
      const failure =
        error instanceof StatesError ? error : new StatesError(StatesErrors.ResultWriterFailed, String(error));
      await end('FAILED', failure);
      throw failure;
    }
  }
  if (thresholdExceeded) {
    const failure = group.signal.reason as StatesError;
    await end('FAILED', failure);
    throw failure;
  }
  await end('SUCCEEDED');
  if (details) return { MapRunArn: mapRunArn, ResultWriterDetails: details };
  return transformedEntries(children, writer?.WriterConfig?.Transformation ?? 'COMPACT');
}

async function loadItems(request: DistributedMapRequest): Promise<unknown[]> {
  const { state, effectiveInput, context, services, signal } = request;
  const reader = state.ItemReader;
  if (reader === undefined) {
    const selected =
      state.ItemsPath === undefined
        ? { value: effectiveInput }
        : selectPath(parseJsonPath(state.ItemsPath), effectiveInput);
    const value = 'value' in selected ? selected.value : undefined;
    if (!Array.isArray(value)) {
      throw new StatesError(
        StatesErrors.Runtime,
        `The ItemsPath '${state.ItemsPath ?? '$'}' of the Map state must select a JSON array, not ${preview(value)}`,
      );
    }
    return value;
  }
  if (services.s3 === undefined)
    throw new StatesError(StatesErrors.ItemReaderFailed, 'the local engine has no S3 client');
  const scope = { input: effectiveInput, context, runtime: services.intrinsics };
  let parameters: Record<string, unknown>;
  try {
    parameters = evaluatePayloadTemplate(reader.Parameters, scope) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof StatesError) throw new StatesError(StatesErrors.ItemReaderFailed, error.cause);
    throw error;
  }
  const maxItems =
    reader.ReaderConfig.MaxItems ?? optionalNumber(reader.ReaderConfig.MaxItemsPath, effectiveInput, 'MaxItemsPath');
  return readItems(services.s3, { reader, parameters, maxItems, signal });
}

/** Child inputs and how many items each carries. */
function batch(request: DistributedMapRequest, items: readonly unknown[]): { value: unknown; items: number }[] {
  const { state, effectiveInput, context, services } = request;
  const batcher = state.ItemBatcher;
  if (batcher === undefined) return items.map((value) => ({ value, items: 1 }));
  const maxItems =
    batcher.MaxItemsPerBatch ??
    optionalNumber(batcher.MaxItemsPerBatchPath, effectiveInput, 'MaxItemsPerBatchPath') ??
    Number.POSITIVE_INFINITY;
  const maxBytes =
    batcher.MaxInputBytesPerBatch ??
    optionalNumber(batcher.MaxInputBytesPerBatchPath, effectiveInput, 'MaxInputBytesPerBatchPath') ??
    Number.POSITIVE_INFINITY;
  if (maxItems < 1 || maxBytes < 1) {
    throw new StatesError(StatesErrors.Runtime, 'MaxItemsPerBatch and MaxInputBytesPerBatch must be positive');
  }
  const batchInput = batcher.BatchInput
    ? evaluatePayloadTemplate(batcher.BatchInput, { input: effectiveInput, context, runtime: services.intrinsics })
    : undefined;
  const shape = (list: unknown[]) =>
    batchInput === undefined ? { Items: list } : { Items: list, BatchInput: batchInput };
  // `{"Items":[a,b]...}` grows by each item's JSON text plus a comma.
  const emptyBytes = Buffer.byteLength(JSON.stringify(shape([])), 'utf8');
  const out: { value: unknown; items: number }[] = [];
  let current: unknown[] = [];
  let bytes = emptyBytes;
  for (const item of items) {
    const itemBytes = Buffer.byteLength(JSON.stringify(item) ?? 'null', 'utf8') + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && (current.length >= maxItems || bytes + itemBytes > maxBytes)) {
      out.push({ value: shape(current), items: current.length });
      current = [];
      bytes = emptyBytes;
    }
    bytes += Buffer.byteLength(JSON.stringify(item) ?? 'null', 'utf8') + (current.length > 0 ? 1 : 0);
    current.push(item);
  }
  if (current.length > 0) out.push({ value: shape(current), items: current.length });
  return out;
}

function optionalNumber(path: string | undefined, input: unknown, field: string): number | undefined {
  if (path === undefined) return undefined;
  const selected = selectPath(parseJsonPath(path), input);
  if (!selected.found || typeof selected.value !== 'number' || selected.value < 0) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The ${field} '${path}' must select a non-negative number in the input '${preview(input)}'`,
    );
  }
  return selected.value;
}

/** Item and child execution counts of one Map Run. */
class MapRunCounters {
  private readonly itemCounts = {
    pending: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    timedOut: 0,
    aborted: 0,
    total: 0,
    resultsWritten: 0,
  };
  private readonly executionCounts = { ...this.itemCounts };

  constructor(items: number, executions: number) {
    this.itemCounts.total = items;
    this.itemCounts.pending = items;
    this.executionCounts.total = executions;
    this.executionCounts.pending = executions;
  }

  start(weight: number): void {
    this.move('pending', 'running', weight);
  }

  finish(weight: number, status: ExecutionResult['status']): void {
    const to =
      status === 'SUCCEEDED'
        ? 'succeeded'
        : status === 'TIMED_OUT'
          ? 'timedOut'
          : status === 'ABORTED'
            ? 'aborted'
            : 'failed';
    this.move('running', to, weight);
  }

  written(items: number): void {
    this.itemCounts.resultsWritten = items;
  }

  failedItems(): number {
    return this.itemCounts.failed + this.itemCounts.timedOut;
  }

  items(): MapRunItemCounts {
    return { ...this.itemCounts };
  }

  executions(): MapRunItemCounts {
    return {
      ...this.executionCounts,
      resultsWritten:
        this.itemCounts.resultsWritten > 0 ? this.executionCounts.total - this.executionCounts.pending : 0,
    };
  }

  private move(
    from: 'pending' | 'running',
    to: 'running' | 'succeeded' | 'failed' | 'timedOut' | 'aborted',
    weight: number,
  ): void {
    this.itemCounts[from] -= weight;
    this.itemCounts[to] += weight;
    this.executionCounts[from] -= 1;
    this.executionCounts[to] += 1;
  }
}
