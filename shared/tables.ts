/**
 * Key schemas of the two tables. The CDK stack builds the tables from these, and the local runtime and tests
 * create theirs from the synthesized template, so there is one definition.
 */
export const RUNS_TABLE = {
  partitionKey: 'runId',
  /** Global secondary index for "runs by status, newest first". */
  statusIndex: { name: 'byStatus', partitionKey: 'status', sortKey: 'createdAt' },
} as const;

/**
 * The prediction table. Rows of a run are spread over `shards` partitions, `<runId>#<n>` with n from a hash of the
 * object key, because one partition takes at most 1,000 write units a second (DynamoDB "Best practices for
 * designing and using partition keys effectively", burst and adaptive capacity) and a million-image run would
 * otherwise write one partition. The shard count of each run is recorded in its layout row (partition `<runId>`,
 * sort key {@link PREDICTIONS_TABLE.layoutKey}) by the first writer and read back by every reader, so it stays fixed
 * for the run even if the default changes; a run without a layout row is read from the single partition `<runId>`.
 */
export const PREDICTIONS_TABLE = {
  partitionKey: 'partition',
  sortKey: 'key',
  /** Sort key of a run's layout row. */
  layoutKey: '#layout',
  /** Shards of a new run. */
  shards: 16,
} as const;

/** BatchWriteItem accepts at most 25 put/delete requests per call. */
export const BATCH_WRITE_LIMIT = 25;

/** BatchWriteItem calls the aggregate stage keeps in flight per part (its default `writeConcurrency`). */
export const AGGREGATE_WRITES_IN_FLIGHT = 4;
/** BatchGetItem accepts at most 100 keys per call. */
export const BATCH_GET_LIMIT = 100;
