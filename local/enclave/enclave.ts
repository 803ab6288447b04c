/**
 * The enclave of local mode, composed: the same run use cases, the same DynamoDB run store and audit log
 * (over dynalite), the state machine synthesized from the one CDK construct run by aws-local-stepfunctions,
 * a folder object store, an outbox for mail, and bubblewrap for the run itself.
 *
 *   <root>/objects/runs/<analysisId>/<runId>/{home.tar.gz, manifest.json, outputs.tar.gz, outputs.manifest.json}
 *   <root>/work/<runId>/{code, outputs, run.log}     (the run's scratch; code is the verified extraction)
 *   <root>/outbox/*.json                             (mail)
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_EXCLUDES, extractVerified, StoredArchiveReader, storeArchive, storeOutputs } from '../../lambdas/adapters/archive.js';
import { DynamoAuditLog, DynamoRunStore } from '../../lambdas/adapters/aws/dynamo-run-store.js';
import { MountedHomeSnapshots } from '../../lambdas/adapters/mounted-home-snapshots.js';
import { SmallCountChecker } from '../../lambdas/adapters/disclosure.js';
import { systemClock, type Clock, type Log } from '../../lambdas/core/ports.js';
import { newRunId } from '../../lambdas/core/runs/lifecycle.js';
import { IntegrityError } from '../../lambdas/core/runs/manifest.js';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../../lambdas/core/runs/policy.js';
import { isTerminalRunState, runStateInWords, type Run, type RunKey } from '../../lambdas/core/runs/run.js';
import type { ReleaseLinks } from '../../lambdas/core/runs/ports.js';
import { reviewPages } from '../../lambdas/core/runs/review-page.js';
import type { HomeSnapshots } from '../../lambdas/core/runs/deps.js';
import type { StepDeps } from '../../lambdas/core/runs/steps.js';
import { finishRun, readStoredManifest, runObjectKeys, submitRun } from '../../lambdas/core/runs/use-cases.js';
import { NotFoundError } from '../../lambdas/core/errors.js';
import { FolderObjectStore } from './folder-object-store.js';
import { OutboxNotifier } from './outbox-notifier.js';
import { LocalEnclaveRunner } from './runner.js';
import { BubblewrapSandbox } from './sandbox.js';
import { LocalTaskTokens } from './task-tokens.js';

export interface LocalEnclaveOptions {
  readonly root: string;
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The real dataset of an analysis (mounted read-only in its runs). */
  readonly datasetOf: (analysisId: string) => string;
  /** Who is told when a run waits for review. */
  readonly reviewers: readonly string[];
  /** The desk's origin (`http://app.localhost:<port>`): the review-needed mail links to its review page. */
  readonly deskOrigin: string;
  /** Release links (the desk's download route: DeskReleaseLinks). */
  readonly links: ReleaseLinks;
  /** Base of the object store's own links (unused by the desk, which serves downloads itself). @default http://localhost/objects */
  readonly linkBase?: string;
  readonly policy?: RunPolicy;
  readonly clock?: Clock;
  readonly log: Log;
  /** Where each researcher's home is (the local runtime's home folders): the archive step reads it. */
  readonly homes: string | { pathOf(home: { readonly analysisId: string; readonly userId: string }): string };
  /** How homes are archived. @default MountedHomeSnapshots over `homes`, with `exclude` */
  readonly snapshots?: HomeSnapshots;
  /** Patterns left out of a submitted home. @default DEFAULT_EXCLUDES */
  readonly exclude?: readonly string[];
  /** @default 10 */
  readonly smallCountThreshold?: number;
  /** How long a run may take in the sandbox. @default 10 minutes */
  readonly runTimeoutMs?: number;
  readonly sandbox?: BubblewrapSandbox;
  /** The resolved definition (definition-cache.ts); synthesized from the construct when absent (about 10 s). */
  readonly definition?: Record<string, unknown>;
}

/**
 * The sandbox stopped a run at its time limit. Named as Step Functions names a task past its TimeoutSeconds
 * (the deployed RunInEnclave's), so the run fails as `timed-out` locally too rather than with the kill's exit code.
 */
export class RunTimedOutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'States.Timeout';
  }
}

export type LocalEnclave = Awaited<ReturnType<typeof createLocalEnclave>>;

export async function createLocalEnclave(options: LocalEnclaveOptions) {
  const clock = options.clock ?? systemClock;
  const policy = options.policy ?? DEFAULT_RUN_POLICY;
  const objects = new FolderObjectStore(join(options.root, 'objects'), options.linkBase ?? 'http://localhost/objects');
  const notifier = new OutboxNotifier(join(options.root, 'outbox'), clock);
  const tokens = new LocalTaskTokens();
  const sandbox = options.sandbox ?? new BubblewrapSandbox();
  const workOf = (key: RunKey) => join(options.root, 'work', key.runId);
  const prefixOf = (key: RunKey) => `runs/${key.analysisId}/${key.runId}`;

  const archives = new StoredArchiveReader(objects);
  const deps: StepDeps = {
    runs: new DynamoRunStore(options.doc, options.tableName),
    audit: new DynamoAuditLog(options.doc, options.tableName),
    objects,
    links: options.links,
    archives,
    tokens,
    notifier,
    clock,
    policy,
    log: options.log,
    reviewers: options.reviewers,
    reviewPageOf: reviewPages(options.deskOrigin),
    newId: () => randomBytes(8).toString('hex'),
    collector: {
      // Everything the run wrote under /outputs, nothing else (a retried collect accepts what an earlier one stored).
      collect: (run: Run) =>
        storeOutputs(objects, archives, join(workOf(run), 'outputs'), { archiveKey: `${prefixOf(run)}/outputs.tar.gz`, manifestKey: `${prefixOf(run)}/outputs.manifest.json` }),
    },
    checker: new SmallCountChecker(objects, { threshold: options.smallCountThreshold ?? 10 }),
    credentials: {
      // Nothing to grant: bubblewrap already gives a run its own outputs folder as its only writable place and
      // no credentials at all (the sandbox is the local run's confinement, as its own task role is on AWS).
      prepare: async () => {},
      // The build's extraction (`work/<runId>/code`) is the local run's task definition: needed only to run,
      // so it goes once the run has stopped. The outputs folder stays for CollectOutputs; the log for whoever looks.
      cleanUp: async (key) => {
        const code = join(workOf(key), 'code');
        const existed = await stat(code).then(() => true, () => false);
        await rm(code, { recursive: true, force: true });
        return existed ? [code] : [];
      },
    },
    // The archive step (ArchiveHome) runs the same adapter as the home-snapshot Lambda, over the local home folders.
    snapshots: options.snapshots ?? new MountedHomeSnapshots(options.homes, objects, options.exclude ?? DEFAULT_EXCLUDES),
  };

  const readRun = async (key: RunKey) => {
    const run = await deps.runs.get(key);
    if (!run) throw new NotFoundError(`No run ${key.runId}`);
    return run;
  };

  const runner = new LocalEnclaveRunner(
    // Imported only when needed: the CDK library takes a while to load.
    options.definition ?? (await import('./definition.js')).synthesizeEnclaveDefinition(policy),
    deps,
    tokens,
    {
      // CodeBuild's part: the approved archive, verified against the reviewed manifest, becomes the run's code.
      build: async (key) => {
        const run = await readRun(key);
        const manifest = await readStoredManifest(objects, run.objects.manifestKey);
        if (manifest.digest !== run.manifestDigest) throw new IntegrityError('The stored manifest is not the one reviewed');
        const code = join(workOf(key), 'code');
        await rm(code, { recursive: true, force: true });
        await extractVerified(await objects.get(run.objects.archiveKey), code, manifest);
      },
      // The ECS task's part: run it in the sandbox with the real dataset and an empty outputs folder.
      run: async (key) => {
        const outputs = join(workOf(key), 'outputs');
        await rm(outputs, { recursive: true, force: true });
        await mkdir(outputs, { recursive: true });
        const result = await sandbox.run({
          codeDir: join(workOf(key), 'code'),
          datasetDir: options.datasetOf(key.analysisId),
          outputsDir: outputs,
          logFile: join(workOf(key), 'run.log'),
          timeoutMs: options.runTimeoutMs,
        });
        if (result.timedOut) throw new RunTimedOutError(`The run was stopped after ${Math.round((options.runTimeoutMs ?? 600_000) / 1000)} s`);
        return { exitCode: result.exitCode };
      },
    },
    options.log,
  );

  return {
    deps,
    objects,
    notifier,
    tokens,
    runner,
    /** Record a submission of the user's home and start its state machine (whose first step archives the home). */
    async submit(input: { readonly analysisId: string; readonly userId: string; readonly description: string }): Promise<Run> {
      const key = { analysisId: input.analysisId, runId: newRunId(clock.now()) };
      return submitRun({ ...deps, executions: runner }, { ...key, submittedBy: input.userId, description: input.description, objects: runObjectKeys(key) });
    },
    /**
     * Executions live in this process: after a restart, a run that was not finished has no execution any more
     * and would wait forever. Fail each one (recorded, audited, its researcher told) so every run still ends
     * in a terminal state. Returns the runs failed.
     */
    async failInterrupted(analysisIds: readonly string[]): Promise<readonly Run[]> {
      const failed: Run[] = [];
      // The given analyses' runs in any state, and every analysis's runs waiting for review (the index).
      const lists = await Promise.all([
        ...analysisIds.map((analysisId) => deps.runs.listForAnalysis(analysisId, 1000)),
        deps.runs.listWaitingForReview('code-review', 1000),
        deps.runs.listWaitingForReview('output-review', 1000),
      ]);
      const seen = new Set<string>();
      for (const list of lists) {
        for (const run of list) {
          const id = `${run.analysisId}.${run.runId}`;
          if (seen.has(id) || isTerminalRunState(run.state) || runner.isRunning(run)) continue;
          seen.add(id);
          const cause = `The local runtime restarted while the run was ${runStateInWords(run.state)}; nothing was released. Submit again.`;
          failed.push(await finishRun(deps, run, 'failed', { Error: 'States.Runtime', Cause: cause }));
        }
      }
      return failed;
    },
    stop: () => runner.stop(),
  };
}
