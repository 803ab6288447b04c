/**
 * The single table's shape, shared by the DynamoDB adapter, the CDK stateful stack and the local
 * runtime (which creates the same table in dynalite). Access patterns: docs/data-model.md.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Sparse index of records housekeeping must look at: partition `dueShard`, sorted by `dueAt`. */
  dueIndex: { name: 'byDue', partitionKey: 'dueShard', sortKey: 'dueAt' },
  /** Sparse index from a compute instance id to the workspace that owns it (compute events). */
  instanceIndex: { name: 'byInstance', partitionKey: 'instanceId' },
  /**
   * Sparse index of enclave runs waiting for a reviewer: partition `reviewQueue` (the review step,
   * `code-review` or `output-review`), sorted by `reviewSince` (when the run started waiting).
   */
  reviewIndex: { name: 'byReview', partitionKey: 'reviewQueue', sortKey: 'reviewSince' },
} as const;

/** Number of `dueShard` partitions; housekeeping queries each. Enough to spread writes at scale. */
export const DUE_SHARDS = 4;
