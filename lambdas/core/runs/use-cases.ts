/**
 * The enclave run use cases. The state machine's steps call them (through a step Lambda on AWS, through
 * local handlers in local mode); the review console calls `decide`. Each moves the run record with one
 * conditional write, appends to the audit log, and tells people what they need to know.
 */
import { CarrelError, NotFoundError, ValidationError, ConflictError } from '../errors.js';
import type { User } from '../ports.js';
import { SYSTEM_ACTOR, type AuditAction } from './audit.js';
import type { DisclosureChecker, HomeSnapshots, OutputsCollector, RunCredentials, RunDeps, RunExecutions } from './deps.js';
import type { ObjectStore } from './ports.js';
import { amendRun, transitionRun, updateRun } from './lifecycle.js';
import { assertMatches, IntegrityError, parseManifest, type Manifest } from './manifest.js';
import { assertMayReview, decisionsAt, reviewOutcome, type ReviewOutcome } from './policy.js';
import { isTerminalRunState, RUN_SCRIPT, runStateInWords, type ReviewStep, type Run, type RunState, type RunFailure, type RunKey, type RunObjects, type Verdict } from './run.js';

/** The run's program exited with a failure; its outputs are not collected. */
export class RunExitError extends CarrelError {}

async function readRun(deps: Pick<RunDeps, 'runs'>, key: RunKey): Promise<Run> {
  const run = await deps.runs.get(key);
  if (!run) throw new NotFoundError(`No run ${key.runId} in analysis ${key.analysisId}`);
  return run;
}

async function audit(deps: RunDeps, run: Run, action: AuditAction, extra: { actor?: string; step?: ReviewStep; comment?: string; manifestDigest?: string } = {}) {
  // None before the home is archived (the submission and a failure while archiving).
  const digest = extra.manifestDigest ?? run.outputsDigest ?? run.manifestDigest;
  await deps.audit.append({
    analysisId: run.analysisId,
    runId: run.runId,
    entryId: deps.newId(),
    at: deps.clock.now().toISOString(),
    actor: extra.actor ?? SYSTEM_ACTOR,
    action,
    ...(digest ? { manifestDigest: digest } : {}),
    ...(extra.step ? { step: extra.step } : {}),
    ...(extra.comment ? { comment: extra.comment } : {}),
  });
}

/** A manifest stored as JSON in the object store (exactly `revision` when given), with its digest checked (IntegrityError otherwise). */
export async function readStoredManifest(objects: ObjectStore, key: string, revision?: string): Promise<Manifest> {
  const chunks: Buffer[] = [];
  for await (const chunk of await objects.get(key, revision)) chunks.push(Buffer.from(chunk));
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new IntegrityError(`The manifest ${key} is not JSON`);
  }
  return parseManifest(json);
}

/** Where a run's submission lives: one prefix per run, known before anything is archived. */
export function runObjectKeys(key: RunKey): Pick<RunObjects, 'archiveKey' | 'manifestKey'> {
  const prefix = `runs/${key.analysisId}/${key.runId}`;
  return { archiveKey: `${prefix}/home.tar.gz`, manifestKey: `${prefix}/manifest.json` };
}

export interface SubmissionInput extends RunKey {
  readonly submittedBy: string;
  readonly description: string;
  /** Where the state machine's first step archives the home (see runObjectKeys). */
  readonly objects: RunObjects;
}

/**
 * Record a new run, `archiving` (no manifest yet), and start its state machine, whose first step archives the
 * submitter's home to `objects` (archiveHome) and whose second records the digest (verifyArchive). Answers at
 * once: archiving a large home takes minutes, longer than an HTTP request may.
 */
export async function submitRun(deps: RunDeps & { readonly executions: RunExecutions }, input: SubmissionInput): Promise<Run> {
  const description = input.description.trim();
  if (!description || description.length > 500) throw new ValidationError('A submission needs a short description (1 to 500 characters)');
  const now = deps.clock.now();
  const at = now.toISOString();
  const run: Run = {
    analysisId: input.analysisId,
    runId: input.runId,
    state: 'archiving',
    version: 1,
    submittedBy: input.submittedBy,
    description,
    objects: input.objects,
    decisions: [],
    createdAt: at,
    stateEnteredAt: at,
    deadlineAt: new Date(now.getTime() + deps.policy.deadlines.archiving).toISOString(),
  };
  if (!(await deps.runs.put(run, null))) throw new ConflictError(`Run ${input.runId} already exists`);
  await audit(deps, run, 'submitted', { actor: input.submittedBy });
  let executionId: string;
  try {
    ({ executionId } = await deps.executions.start(run));
  } catch (error) {
    await failUnstarted(deps, run, error);
    throw error;
  }
  const result = await updateRun(deps.runs, run, (current) => (current.executionId ? undefined : amendRun(current, { executionId })));
  return result?.after ?? run;
}

/**
 * Nothing moves a run whose execution did not start (no step runs, housekeeping does not look at runs): fail
 * it, recorded and audited. The submitter is told by the answer to the submit, so no mail. Best effort: the
 * start's error is what the caller sees. (A start that did happen despite the error finds the run terminal.)
 */
async function failUnstarted(deps: RunDeps, run: Run, error: unknown): Promise<void> {
  const why = error instanceof Error ? error.message : String(error);
  try {
    const result = await updateRun(deps.runs, run, (current) =>
      current.state === 'archiving' && !current.executionId
        ? transitionRun(current, 'failed', deps.clock.now(), deps.policy, { failure: { kind: 'error', message: `The run could not be started: ${why}`.slice(0, 500) } })
        : undefined,
    );
    if (result) await audit(deps, result.after, 'failed');
  } catch (failure) {
    deps.log.warn('could not fail a run whose start failed', { analysisId: run.analysisId, runId: run.runId, error: failure instanceof Error ? failure.message : String(failure) });
  }
}

/**
 * A home that cannot be submitted as it is: none yet, nothing left after the exclusions, too large, or (with a
 * store adapter that does not adopt an earlier attempt's objects) the run's files exist already. Its message is for the researcher (the run fails with it, and they are told).
 */
export class SubmissionRefusedError extends CarrelError {}

/** What the archive step hands the next one (the state machine keeps it in the execution's data). */
export interface HomeArchived {
  readonly digest: string;
  readonly files: number;
  readonly totalBytes: number;
}

/**
 * Step: archive the submitter's home to the run's keys. Needs no run store (on AWS it runs in the function that
 * mounts the homes, which has no table access): the run's key and submitter come with the step. Expected
 * refusals are SubmissionRefusedError; transient failures stay TransientError (the state machine retries them).
 */
export async function archiveHome(deps: { readonly snapshots: HomeSnapshots }, key: RunKey, submittedBy: string): Promise<HomeArchived> {
  let manifest: Manifest;
  try {
    manifest = await deps.snapshots.snapshot({ analysisId: key.analysisId, userId: submittedBy }, runObjectKeys(key));
  } catch (error) {
    if (error instanceof NotFoundError) throw new SubmissionRefusedError(`You have no home in "${key.analysisId}" yet: open the analysis first, then submit`, { cause: error });
    if (error instanceof ConflictError) throw new SubmissionRefusedError('The files of this submission exist already (an earlier attempt stored them): submit again', { cause: error });
    if (error instanceof ValidationError) throw new SubmissionRefusedError(error.message, { cause: error });
    throw error;
  }
  if (manifest.files.length === 0) throw new SubmissionRefusedError('Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)');
  if (!manifest.files.some((f) => f.path === RUN_SCRIPT)) {
    throw new SubmissionRefusedError(`Your home has no ${RUN_SCRIPT} in its top folder: the enclave runs \`sh ${RUN_SCRIPT}\` there, so add one that runs your analysis (the starter project has one), then submit again`);
  }
  return { digest: manifest.digest, files: manifest.files.length, totalBytes: manifest.totalBytes };
}

/**
 * Step: the stored manifest is the one the archive step made (`manifestDigest`) and the stored archive is exactly
 * what it says (refuses a tampered one); then the digest is recorded on the run, which moves archiving →
 * submitted. Idempotent: a retry finds the same digest recorded; a different one is an IntegrityError.
 */
export async function verifyArchive(deps: RunDeps, key: RunKey, manifestDigest: string): Promise<{ readonly digest: string }> {
  const run = await readRun(deps, key);
  if (run.manifestDigest !== undefined && run.manifestDigest !== manifestDigest) {
    throw new IntegrityError(`The run's recorded manifest (${run.manifestDigest}) is not the one archived (${manifestDigest})`);
  }
  const manifest = await readStoredManifest(deps.objects, run.objects.manifestKey);
  if (manifest.digest !== manifestDigest) {
    throw new IntegrityError(`The stored manifest (digest ${manifest.digest}) is not the one archived (${manifestDigest})`);
  }
  assertMatches(manifest, await deps.archives.manifestOf(run.objects.archiveKey), 'The submitted archive');
  const result = await updateRun(deps.runs, key, (current) => {
    if (current.manifestDigest === manifestDigest) return undefined;
    if (current.manifestDigest !== undefined) throw new IntegrityError(`The run's recorded manifest (${current.manifestDigest}) is not the one archived (${manifestDigest})`);
    return { ...transitionRun(current, 'submitted', deps.clock.now(), deps.policy), manifestDigest };
  });
  if (result) await audit(deps, result.after, 'archived');
  return { digest: manifest.digest };
}

/**
 * Step (`.waitForTaskToken`): the run now waits for reviewers at `step`; keep the token the decision
 * will complete. Idempotent: a retried step only replaces the token (the newest attempt is the one waiting).
 */
export async function requestReview(deps: RunDeps, key: RunKey, step: ReviewStep, taskToken: string): Promise<Run> {
  const result = await updateRun(deps.runs, key, (current) => {
    if (current.state === step) return current.taskToken === taskToken ? undefined : amendRun(current, { taskToken });
    if (step === 'output-review' && !current.outputsDigest) throw new ConflictError('Outputs must be collected before their review');
    return transitionRun(current, step, deps.clock.now(), deps.policy, { taskToken });
  });
  if (!result) return readRun(deps, key);
  if (result.before.state !== step) {
    await audit(deps, result.after, 'review-requested', { step });
    const to = deps.reviewers.filter((r) => r !== result.after.submittedBy);
    await deps.notifier.notify('review-needed', result.after, {
      to,
      message: `Run ${key.runId} of ${key.analysisId} waits for ${step === 'code-review' ? 'code review' : 'output review'}`,
      link: deps.reviewPageOf(key),
    });
  }
  return result.after;
}

export interface DecisionInput {
  readonly step: ReviewStep;
  readonly verdict: Verdict;
  readonly comment: string;
  /** The digest of the manifest the reviewer's page showed. */
  readonly manifestDigest: string;
}

/**
 * A reviewer decides at a review step. The decision is recorded on the run and in the audit log;
 * once the step's outcome is reached (one rejection, or enough approvals from different reviewers)
 * the waiting state machine step is completed with `{ outcome }`.
 */
export async function decide(deps: RunDeps, reviewer: User, key: RunKey, input: DecisionInput): Promise<{ readonly run: Run; readonly outcome: ReviewOutcome }> {
  const comment = input.comment.trim();
  if (input.verdict === 'reject' && !comment) throw new ValidationError('A rejection needs a comment saying what to change');
  if (comment.length > 2000) throw new ValidationError('A comment has at most 2000 characters');
  const result = await updateRun(deps.runs, key, (current) => {
    assertMayReview(current, reviewer, input, deps.policy);
    if (reviewOutcome(decisionsAt(current, input.step), deps.policy) !== 'pending') {
      throw new ConflictError(`This ${input.step} is already decided`);
    }
    const decision = { step: input.step, reviewerId: reviewer.userId, verdict: input.verdict, comment, manifestDigest: input.manifestDigest, at: deps.clock.now().toISOString() };
    return amendRun(current, { decisions: [...current.decisions, decision] });
  });
  if (!result) throw new NotFoundError(`No run ${key.runId} in analysis ${key.analysisId}`);
  const run = result.after;
  await audit(deps, run, input.verdict === 'approve' ? 'approved' : 'rejected', {
    actor: reviewer.userId,
    step: input.step,
    comment,
    manifestDigest: input.manifestDigest,
  });
  const outcome = reviewOutcome(decisionsAt(run, input.step), deps.policy);
  if (outcome !== 'pending') {
    if (!run.taskToken) throw new ConflictError(`Run ${key.runId} has no waiting step to complete`);
    await deps.tokens.succeed(run.taskToken, { outcome, step: input.step });
  }
  return { run, outcome };
}

/**
 * Step: the run moves on to `building` (only with its code approved) or `running`. Idempotent.
 */
export async function advanceRun(deps: RunDeps, key: RunKey, to: 'building' | 'running'): Promise<Run> {
  const result = await updateRun(deps.runs, key, (current) => {
    if (current.state === to) return undefined;
    if (to === 'building' && reviewOutcome(decisionsAt(current, 'code-review'), deps.policy) !== 'approved') {
      throw new ConflictError(`Run ${key.runId} cannot be built: its code is not approved`);
    }
    return transitionRun(current, to, deps.clock.now(), deps.policy);
  });
  return result?.after ?? readRun(deps, key);
}

/**
 * Step, after MarkBuilding: make the run's own credentials (on AWS a task role that may write only this run's
 * outputs), which the build puts into the run's task definition. Only a run being built gets any: nothing is
 * made for a run whose code is not approved. Idempotent (a retried step finds them made).
 */
export async function prepareRun(deps: RunDeps & { readonly credentials: RunCredentials }, key: RunKey): Promise<Run> {
  const run = await readRun(deps, key);
  if (run.state !== 'building') throw new ConflictError(`Run ${key.runId} is ${run.state}: credentials are made only for a run being built`);
  await deps.credentials.prepare(run);
  return run;
}

/**
 * Step, once the run task can no longer run (after it stopped, and on the way to FailRun): remove what
 * `prepareRun` and the build made for the run. It never changes the run's record: the state machine goes on
 * to the run's own outcome whether it succeeds or not, and what it leaves is tagged and listed by the admin CLI.
 */
export async function cleanUpRun(deps: RunDeps & { readonly credentials: RunCredentials }, key: RunKey): Promise<Run> {
  const removed = await deps.credentials.cleanUp(key);
  deps.log.info('run resources cleaned up', { analysisId: key.analysisId, runId: key.runId, removed: removed.join(', ') || 'nothing left' });
  return readRun(deps, key);
}

/**
 * Step: gather and hash the outputs of a run that exited with `exitCode`. The store's revisions of the archive and
 * its manifest are recorded with their keys: every later read of the outputs reads exactly those bytes.
 */
export async function collectOutputs(deps: RunDeps & { readonly collector: OutputsCollector }, key: RunKey, exitCode: number): Promise<Run> {
  if (exitCode !== 0) throw new RunExitError(`The run exited with code ${exitCode}; its outputs were discarded`);
  const entered = await updateRun(deps.runs, key, (current) =>
    current.state === 'collecting' ? undefined : transitionRun(current, 'collecting', deps.clock.now(), deps.policy),
  );
  const run = entered?.after ?? (await readRun(deps, key));
  const collected = await deps.collector.collect(run);
  const result = await updateRun(deps.runs, key, (current) =>
    amendRun(current, {
      outputsDigest: collected.manifest.digest,
      objects: {
        ...current.objects,
        outputsKey: collected.outputsKey,
        outputsManifestKey: collected.outputsManifestKey,
        ...(collected.outputsRevision ? { outputsRevision: collected.outputsRevision } : {}),
        ...(collected.outputsManifestRevision ? { outputsManifestRevision: collected.outputsManifestRevision } : {}),
      },
    }),
  );
  return result!.after;
}

/** Step: automated disclosure checks; their findings are shown to output reviewers. */
export async function checkDisclosure(deps: RunDeps & { readonly checker: DisclosureChecker }, key: RunKey): Promise<Run> {
  const run = await readRun(deps, key);
  const findings = await deps.checker.check(run);
  const result = await updateRun(deps.runs, key, (current) =>
    current.state === 'checking' ? amendRun(current, { findings }) : transitionRun(current, 'checking', deps.clock.now(), deps.policy, { findings }),
  );
  return result!.after;
}

/**
 * Step: release approved outputs. Re-verifies that the stored outputs (the revision pinned at collect) are byte for
 * byte what the reviewers saw (their manifest digest), records the archive's sha256 and size (so a download needs
 * no full read, only a check that this revision is still there), then makes an expiring link and tells the researcher.
 */
export async function releaseRun(deps: RunDeps, key: RunKey): Promise<Run> {
  const run = await readRun(deps, key);
  if (run.state === 'released') return run;
  if (reviewOutcome(decisionsAt(run, 'output-review'), deps.policy) !== 'approved') {
    throw new ConflictError(`Run ${key.runId} cannot be released: its outputs are not approved`);
  }
  const { outputsKey, outputsManifestKey, outputsRevision, outputsManifestRevision } = run.objects;
  if (!outputsKey || !outputsManifestKey || !run.outputsDigest) throw new IntegrityError('The run has no collected outputs');
  const manifest = await readStoredManifest(deps.objects, outputsManifestKey, outputsManifestRevision);
  if (manifest.digest !== run.outputsDigest) throw new IntegrityError(`The stored outputs manifest (${manifest.digest}) is not the one reviewed (${run.outputsDigest})`);
  // Outputs collected before runs pinned their versions: pin the version this release checks (the key is create-only).
  const revision = outputsRevision ?? (await deps.objects.head(outputsKey)).revision;
  const archive = await deps.archives.inspect(outputsKey, revision);
  assertMatches(manifest, archive.manifest, 'The outputs archive');
  const now = deps.clock.now();
  const expiresAt = new Date(now.getTime() + deps.policy.releaseLinkTtlMs);
  const link = await deps.links.link(key, expiresAt);
  const result = await updateRun(deps.runs, key, (current) =>
    transitionRun(current, 'released', now, deps.policy, {
      releaseExpiresAt: expiresAt.toISOString(),
      releasedArchive: { sha256: archive.sha256, size: archive.size },
      ...(revision && !current.objects.outputsRevision ? { objects: { ...current.objects, outputsRevision: revision } } : {}),
    }),
  );
  const released = result!.after;
  await audit(deps, released, 'released');
  await deps.notifier.notify('released', released, { to: [released.submittedBy], message: `The outputs of run ${key.runId} are released until ${expiresAt.toISOString()}`, link });
  return released;
}

/** The error a failed state machine step reports (`Error` name and `Cause` text), as Catch passes it. */
export interface StepError {
  readonly Error?: string;
  readonly Cause?: string;
}

// Sandbox.Timedout: a Lambda stopped at its own timeout (Step Functions reports it so, not as States.Timeout).
const TIMEOUT_ERRORS = new Set(['States.Timeout', 'States.HeartbeatTimeout', 'Sandbox.Timedout']);

/** Turn a step error into what the researcher is told: a kind and a message without internals. */
export function failureOf(error: StepError | undefined, state: RunState): RunFailure {
  const name = error?.Error ?? 'Error';
  if (TIMEOUT_ERRORS.has(name)) return { kind: 'timed-out', message: `The run timed out while ${runStateInWords(state)}` };
  let message = error?.Cause ?? '';
  // Lambda reports `{"errorType","errorMessage","trace"}` as Cause: keep only the message.
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // plain text cause
  }
  message = message.split('\n')[0]!.slice(0, 500) || `${name} while ${runStateInWords(state)}`;
  return { kind: name === IntegrityError.name ? 'integrity' : 'error', message };
}

/**
 * Step: end a run that will not be released: `rejected` (code review said no), `withheld` (output
 * review said no) or `failed` (with the step error). Records, audits and tells the researcher. Idempotent.
 */
export async function finishRun(deps: RunDeps, key: RunKey, outcome: 'rejected' | 'withheld' | 'failed', error?: StepError): Promise<Run> {
  const result = await updateRun(deps.runs, key, (current) => {
    if (isTerminalRunState(current.state)) return undefined;
    const patch = outcome === 'failed' ? { failure: failureOf(error, current.state) } : {};
    return transitionRun(current, outcome, deps.clock.now(), deps.policy, patch);
  });
  if (!result) return readRun(deps, key);
  const run = result.after;
  const step: ReviewStep | undefined = outcome === 'rejected' ? 'code-review' : outcome === 'withheld' ? 'output-review' : undefined;
  const comments = step ? decisionsAt(run, step).filter((d) => d.comment).map((d) => `${d.reviewerId}: ${d.comment}`) : [];
  await audit(deps, run, outcome, { ...(step ? { step } : {}) });
  const message =
    outcome === 'failed'
      ? `Run ${key.runId} failed: ${run.failure!.message}`
      : `Run ${key.runId} was ${outcome === 'rejected' ? 'rejected at code review' : 'withheld at output review'}${comments.length ? `: ${comments.join('; ')}` : ''}`;
  await deps.notifier.notify(outcome, run, { to: [run.submittedBy], message });
  return run;
}
