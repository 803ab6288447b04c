import type { Clock, Log } from '../ports.js';
import type { Manifest } from './manifest.js';
import type { RunPolicy } from './policy.js';
import type { AuditLog, Notifier, ObjectStore, ReleaseLinks, RunStore, TaskTokens } from './ports.js';
import type { DisclosureFinding, Run, RunKey, RunObjects } from './run.js';

/** What one full read of a stored archive found: the manifest of what it holds, and the sha256 and size of its bytes. */
export interface ArchiveCheck {
  readonly manifest: Manifest;
  readonly sha256: string;
  readonly size: number;
}

/** Reads an archive as it is stored (exactly `revision` when given) and returns the manifest of what it holds (hashing every file). */
export interface ArchiveReader {
  manifestOf(archiveKey: string, revision?: string): Promise<Manifest>;
  /** As manifestOf, with the sha256 and size of every byte read (what a link to that revision serves). */
  inspect(archiveKey: string, revision?: string): Promise<ArchiveCheck>;
}

/**
 * Starts the state machine for a new run (Step Functions, or the local runner). The execution's input is the
 * run's key and its submitter: the first step archives the submitter's home knowing no more than that.
 */
export interface RunExecutions {
  start(run: RunKey & { readonly submittedBy: string }): Promise<{ readonly executionId: string }>;
}

/** Archives a researcher's home into new objects (archive + manifest); locally a folder, on AWS the EFS home. */
export interface HomeSnapshots {
  /**
   * Archive the home of (analysis, user) to `keys`. NotFoundError when there is no home yet, ConflictError when
   * a key exists, ValidationError (with a message for the researcher) when the home cannot be archived as it is.
   */
  snapshot(home: { readonly analysisId: string; readonly userId: string }, keys: Pick<RunObjects, 'archiveKey' | 'manifestKey'>): Promise<Manifest>;
}

/** What a collect stored: the outputs archive and its manifest, with the store's revisions of both (where it keeps versions). */
export interface CollectedOutputs {
  readonly manifest: Manifest;
  readonly outputsKey: string;
  readonly outputsManifestKey: string;
  readonly outputsRevision?: string;
  readonly outputsManifestRevision?: string;
}

/** Gathers what a finished run wrote under its outputs folder into an archive and its manifest. */
export interface OutputsCollector {
  collect(run: Run): Promise<CollectedOutputs>;
}

/**
 * What is made for one run alone and removed once it can no longer run (AWS: its own task role and task
 * definition revisions, lambdas/adapters/aws/run-resources.ts; locally: its scratch build, local/enclave/).
 */
export interface RunCredentials {
  /** Make the run's own credentials before its build (they name only this run's outputs). Idempotent. */
  prepare(run: Run): Promise<void>;
  /** Remove everything made for the run; what is already gone counts as done. Returns what it removed. */
  cleanUp(key: RunKey): Promise<readonly string[]>;
}

/** Automated disclosure checks on collected outputs (e.g. small counts in tables). */
export interface DisclosureChecker {
  check(run: Run): Promise<readonly DisclosureFinding[]>;
}

/** Everything the run use cases need, injected by an entry point (a step Lambda, the local runner). */
export interface RunDeps {
  readonly runs: RunStore;
  readonly audit: AuditLog;
  readonly objects: ObjectStore;
  /** The release links (the email's and the runs page's). */
  readonly links: ReleaseLinks;
  readonly archives: ArchiveReader;
  readonly tokens: TaskTokens;
  readonly notifier: Notifier;
  readonly clock: Clock;
  readonly policy: RunPolicy;
  readonly log: Log;
  /** User ids told when a run waits for review. */
  readonly reviewers: readonly string[];
  /** The review console's page of a run on the desk (reviewPages(deskOrigin)): the review-needed mail links there. */
  readonly reviewPageOf: (key: RunKey) => string;
  /** Makes unique audit entry ids (random in production, a counter in tests). */
  readonly newId: () => string;
}
