import type { Clock, Log } from '../ports.js';
import type { Manifest } from './manifest.js';
import type { RunPolicy } from './policy.js';
import type { AuditLog, Notifier, ObjectStore, ReleaseLinks, RunStore, TaskTokens } from './ports.js';
import type { DisclosureFinding, Run, RunKey } from './run.js';

/** Reads an archive as it is stored and returns the manifest of what it holds (hashing every file). */
export interface ArchiveReader {
  manifestOf(archiveKey: string): Promise<Manifest>;
}

/** Starts the state machine for a submitted run (Step Functions, or the local runner). */
export interface RunExecutions {
  start(key: RunKey): Promise<{ readonly executionId: string }>;
}

/** Gathers what a finished run wrote under its outputs folder into an archive and its manifest. */
export interface OutputsCollector {
  collect(run: Run): Promise<{ readonly manifest: Manifest; readonly outputsKey: string; readonly outputsManifestKey: string }>;
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
  /** Makes unique audit entry ids (random in production, a counter in tests). */
  readonly newId: () => string;
}
