/**
 * Ports of the enclave runs. Adapters: DynamoDB (adapters/aws/dynamo-run-store.ts), S3 and Step
 * Functions later; locally a folder and the in-process state machine (local/enclave/).
 */
import type { Readable } from 'node:stream';
import type { AuditEntry } from './audit.js';
import type { ReviewStep, Run, RunKey } from './run.js';

/** Run records. Every write is conditional on the version the caller read (as the workspace store). */
export interface RunStore {
  get(key: RunKey): Promise<Run | undefined>;
  /** Write `next` only if the stored run still has `expectedVersion` (null: does not exist yet). False when someone else won. */
  put(next: Run, expectedVersion: number | null): Promise<boolean>;
  /** The analysis's runs, newest first. */
  listForAnalysis(analysisId: string, limit: number): Promise<readonly Run[]>;
  /** Runs waiting at review `step` across analyses, longest waiting first (a sparse index, never a scan). */
  listWaitingForReview(step: ReviewStep, limit: number): Promise<readonly Run[]>;
}

/** Append-only audit log: entries are added, never changed or removed. */
export interface AuditLog {
  /** Adds the entry; throws ConflictError if an entry with the same id exists (never overwrites). */
  append(entry: AuditEntry): Promise<void>;
  /** The run's entries, oldest first. */
  list(key: RunKey): Promise<readonly AuditEntry[]>;
}

/**
 * One stored version of an object. `revision` names exactly those bytes where the store keeps versions (S3's
 * VersionId); it is absent where the store keeps none (the local folder store, whose objects never change).
 */
export interface StoredObject {
  readonly revision?: string;
}

/** Immutable blobs: submitted archives and manifests, collected outputs. */
export interface ObjectStore {
  /** Store a new object; refuses (ConflictError) to replace an existing key, since submissions are immutable. */
  putNew(key: string, body: Buffer | Readable): Promise<StoredObject>;
  /** The object's bytes: exactly `revision` when given (NotFoundError when that revision is gone), else the current ones. */
  get(key: string, revision?: string): Promise<Readable>;
  /** Size and revision of the object (exactly `revision` when given) without reading its bytes; NotFoundError when absent. */
  head(key: string, revision?: string): Promise<StoredObject & { readonly size: number }>;
  /** A link that downloads `key` until `expiresAt`. */
  link(key: string, expiresAt: Date): Promise<string>;
}

/**
 * Expiring links to a released run's outputs. The link names the run, not an object, so whoever serves it
 * (the desk's download route) checks the bytes against the approved manifest before sending them.
 */
export interface ReleaseLinks {
  link(key: RunKey, expiresAt: Date): Promise<string>;
  /** The run a link's token grants. Throws NotAllowedError when forged, altered or expired at `now`. */
  verify(token: string, now: Date): Promise<RunKey>;
}

/** Completes a state machine step that waits for a callback (`.waitForTaskToken`). */
export interface TaskTokens {
  succeed(taskToken: string, output: Record<string, unknown>): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}

export type RunNotice = 'review-needed' | 'rejected' | 'withheld' | 'failed' | 'released';

/** Tells people about a run (SES on AWS, an outbox folder locally). */
export interface Notifier {
  /** To the researcher who submitted, or (review-needed) to the reviewers. */
  notify(notice: RunNotice, run: Run, detail: { readonly to: readonly string[]; readonly message: string; readonly link?: string }): Promise<void>;
}
