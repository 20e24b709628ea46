/**
 * Key schemas of the two tables. The CDK stack builds the tables from these, and the local runtime and tests
 * create theirs from the synthesized template, so there is one definition.
 */
export const RUNS_TABLE = {
  partitionKey: 'runId',
  /** Global secondary index for "runs by status, newest first". */
  statusIndex: { name: 'byStatus', partitionKey: 'status', sortKey: 'createdAt' },
} as const;

export const PREDICTIONS_TABLE = {
  partitionKey: 'runId',
  sortKey: 'key',
} as const;

/** BatchWriteItem accepts at most 25 put/delete requests per call. */
export const BATCH_WRITE_LIMIT = 25;
/** BatchGetItem accepts at most 100 keys per call. */
export const BATCH_GET_LIMIT = 100;
