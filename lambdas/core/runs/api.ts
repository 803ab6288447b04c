/**
 * The use cases behind the desk's run routes (docs/contracts.md, "Enclave runs"): submit a home, list an
 * analysis's runs, the reviewers' queue, a run's files and diff, a decision, a download. Authorization is
 * decided here: members submit and list; reviewers and the submitter see a run; reviewers decide (never on
 * their own run); members download a released run with its link.
 */
import { createHash } from 'node:crypto';
import { formatBytes } from '../bytes.js';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../errors.js';
import type { Analysis, AnalysisCatalog, User } from '../ports.js';
import type { AuditEntry } from './audit.js';
import type { RunDeps, RunExecutions } from './deps.js';
import { newRunId } from './lifecycle.js';
import { assertRelativePath, IntegrityError, type Manifest, type ManifestEntry } from './manifest.js';
import { assertMayReview, decisionsAt, digestUnderReview, reviewOutcome, type ReviewOutcome } from './policy.js';
import { isReviewState, REVIEW_STATES, type ReviewStep, type Run, type RunKey } from './run.js';
import { decide, readStoredManifest, runObjectKeys, submitRun } from './use-cases.js';

export type { HomeSnapshots } from './deps.js';

/** Reads files out of stored archives (exactly `revision` of the archive when given). */
export interface ArchiveFiles {
  /** The first `maxBytes` of one file, its whole size and the sha256 of all of it; undefined when absent. */
  file(archiveKey: string, path: string, maxBytes: number, revision?: string): Promise<{ readonly bytes: Buffer; readonly size: number; readonly sha256: string } | undefined>;
  /** The whole stored archive (ConflictError over `maxBytes`) and the manifest of exactly those bytes. */
  load(archiveKey: string, maxBytes: number, revision?: string): Promise<{ readonly bytes: Buffer; readonly manifest: Manifest }>;
}

/** A unified diff of one text file (an adapter: the `diff` library). */
export type TextDiffer = (path: string, before: string, after: string) => string;

export interface RunApiLimits {
  /** Largest part of a file the file view returns. */
  readonly fileViewMaxBytes: number;
  /** Largest outputs archive the desk serves (a Lambda answer is at most 6 MB). */
  readonly downloadMaxBytes: number;
  /** Shown to reviewers beside the findings (the checker flags counts below it). */
  readonly smallCountThreshold: number;
}

/**
 * Links to exactly the stored bytes that were checked: the release step read the pinned revision of the outputs in
 * full against the approved manifest; the adapter links that very revision (S3: a presigned GET of the object
 * version), so a large release is served by the store, not the desk, and the download reads none of its bytes.
 */
export interface CheckedLinks {
  /**
   * Confirms that `revision` of `key` still exists with `size` bytes (metadata only, no bytes read) and links
   * exactly it until `expiresAt`. IntegrityError when that revision is gone or has another size (nothing linked).
   */
  pinnedLink(key: string, pinned: { readonly revision: string; readonly size: number }, expiresAt: Date, fileName: string): Promise<string>;
}

/** How long a checked link lasts: it is made at download time, after the check, for the browser to follow at once. */
export const CHECKED_LINK_TTL_MS = 5 * 60 * 1000;

export interface RunApiDeps extends RunDeps {
  readonly catalog: Pick<AnalysisCatalog, 'get'>;
  readonly executions: RunExecutions;
  readonly files: ArchiveFiles;
  readonly diff: TextDiffer;
  readonly limits: RunApiLimits;
  /** With a store that links checked bytes (S3): the whole outputs archive is served by a link, not through the desk. */
  readonly checkedLinks?: CheckedLinks;
}

/** How the API names a run: `<analysisId>.<runId>` (neither holds a dot). */
export function runRef(key: RunKey): string {
  return `${key.analysisId}.${key.runId}`;
}

const RUN_REF = /^([a-z0-9][a-z0-9-]{0,62})\.([A-Za-z0-9][A-Za-z0-9_-]{0,127})$/;

export function parseRunRef(ref: string): RunKey {
  const m = RUN_REF.exec(ref);
  if (!m) throw new ValidationError(`Not a run id: ${JSON.stringify(ref.slice(0, 80))} (expected <analysisId>.<runId>, as run views give it)`, ['path.runId must be <analysisId>.<runId>']);
  return { analysisId: m[1]!, runId: m[2]! };
}

async function member(deps: Pick<RunApiDeps, 'catalog'>, user: User, analysisId: string): Promise<Analysis> {
  const analysis = await deps.catalog.get(analysisId, user);
  if (!analysis) throw new NotFoundError(`No analysis "${analysisId}"`);
  if (!analysis.members.includes(user.userId)) throw new NotAllowedError(`You are not a researcher on analysis "${analysisId}"`);
  return analysis;
}

function isReviewer(deps: Pick<RunDeps, 'policy'>, user: User): boolean {
  return user.roles.includes(deps.policy.reviewerRole);
}

async function readRun(deps: Pick<RunDeps, 'runs'>, key: RunKey): Promise<Run> {
  const run = await deps.runs.get(key);
  if (!run) throw new NotFoundError(`No run ${runRef(key)}`);
  return run;
}

/** A run as the reviewers and its submitter may see it; NotAllowedError for anyone else. */
export async function runForViewer(deps: Pick<RunDeps, 'runs' | 'policy'>, user: User, key: RunKey): Promise<Run> {
  const run = await readRun(deps, key);
  if (run.submittedBy !== user.userId && !isReviewer(deps, user)) {
    throw new NotAllowedError(`Only reviewers and the researcher who submitted it may see run ${runRef(key)}`);
  }
  return run;
}

/**
 * `POST /api/analyses/{analysisId}/runs`: record a new run of the caller's home and start its state machine,
 * whose first step archives the home (asynchronously: a large home takes minutes). The answer is the run,
 * `archiving`; a home that cannot be submitted (none yet, empty, too large) ends in a failed run the caller is
 * told about.
 */
export async function submitHome(deps: RunApiDeps, user: User, analysisId: string, description: string): Promise<Run> {
  await member(deps, user, analysisId);
  const trimmed = description.trim();
  if (!trimmed || trimmed.length > 500) throw new ValidationError('A submission needs a short description (1 to 500 characters)', ['body.description must be 1 to 500 characters']);
  const key = { analysisId, runId: newRunId(deps.clock.now()) };
  return submitRun(deps, { ...key, submittedBy: user.userId, description: trimmed, objects: runObjectKeys(key) });
}

export const RUN_LIST_LIMIT = 50;

/** `GET /api/analyses/{analysisId}/runs`: the analysis's runs for its members, newest first. */
export async function listRuns(deps: Pick<RunApiDeps, 'catalog' | 'runs'>, user: User, analysisId: string): Promise<readonly Run[]> {
  await member(deps, user, analysisId);
  return deps.runs.listForAnalysis(analysisId, RUN_LIST_LIMIT);
}

export interface ReviewStanding {
  /** Whether this reviewer may decide on the run now. */
  readonly mayDecide: boolean;
  /** Why not, in words for the reviewer. */
  readonly why?: string;
}

/** Whether `user` may decide on `run` now (the same rules `decide` enforces). */
export function reviewStanding(deps: Pick<RunDeps, 'policy'>, user: User, run: Run): ReviewStanding {
  if (!isReviewState(run.state)) return { mayDecide: false, why: `The run is ${run.state}, not waiting for review` };
  if (run.submittedBy === user.userId && !isReviewer(deps, user)) return { mayDecide: false, why: 'This is your run: reviewers decide on it, and you are told when they have' };
  try {
    assertMayReview(run, user, { step: run.state, manifestDigest: digestUnderReview(run, run.state) ?? '' }, deps.policy);
    if (reviewOutcome(decisionsAt(run, run.state), deps.policy) !== 'pending') return { mayDecide: false, why: 'This review step is already decided' };
    return { mayDecide: true };
  } catch (error) {
    return { mayDecide: false, why: error instanceof Error ? error.message : String(error) };
  }
}

export const QUEUE_LIMIT = 100;

/** `GET /api/review/queue`: runs waiting for review (one step or both), longest waiting first. Reviewers only. */
export async function reviewQueue(deps: Pick<RunDeps, 'runs' | 'policy'>, user: User, step?: ReviewStep): Promise<readonly Run[]> {
  if (!isReviewer(deps, user)) throw new NotAllowedError('Only reviewers see the review queue');
  const steps = step ? [step] : REVIEW_STATES;
  const lists = await Promise.all(steps.map((s) => deps.runs.listWaitingForReview(s, QUEUE_LIMIT)));
  // The index is eventually consistent: keep only runs still waiting at the step they were listed under.
  return lists
    .flatMap((runs, i) => runs.filter((r) => r.state === steps[i]))
    .sort((a, b) => (a.stateEnteredAt < b.stateEnteredAt ? -1 : a.stateEnteredAt > b.stateEnteredAt ? 1 : 0))
    .slice(0, QUEUE_LIMIT);
}

export type FileChange = 'added' | 'changed' | 'unchanged';

export interface ManifestDiff {
  readonly baseline?: Run;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export interface RunDetail {
  readonly run: Run;
  /** The submitted manifest; absent while the home is being archived (or when archiving failed). */
  readonly manifest?: Manifest;
  readonly changes: Readonly<Record<string, FileChange>>;
  readonly diff: ManifestDiff;
  readonly outputs?: Manifest;
  readonly audit: readonly AuditEntry[];
  readonly standing: ReviewStanding;
}

function codeApproved(run: Run, deps: Pick<RunDeps, 'policy'>): boolean {
  return reviewOutcome(decisionsAt(run, 'code-review'), deps.policy) === 'approved';
}

/** The analysis's most recent run submitted before `run` whose code reviewers approved. */
export async function baselineOf(deps: Pick<RunApiDeps, 'runs' | 'policy'>, run: Run): Promise<Run | undefined> {
  const runs = await deps.runs.listForAnalysis(run.analysisId, RUN_LIST_LIMIT);
  return runs.find((r) => r.runId < run.runId && codeApproved(r, deps));
}

export function diffManifests(baseline: Manifest | undefined, current: Manifest): { changes: Record<string, FileChange>; added: string[]; removed: string[]; changed: string[] } {
  const before = new Map((baseline?.files ?? []).map((f) => [f.path, f]));
  const changes: Record<string, FileChange> = {};
  const added: string[] = [];
  const changed: string[] = [];
  for (const f of current.files) {
    const b = before.get(f.path);
    if (!b) added.push(f.path), (changes[f.path] = 'added');
    else if (b.sha256 !== f.sha256) changed.push(f.path), (changes[f.path] = 'changed');
    else changes[f.path] = 'unchanged';
    before.delete(f.path);
  }
  return { changes, added, removed: [...before.keys()], changed };
}

/** `GET /api/runs/{id}`: the manifest, the diff against the baseline, the outputs and the audit log. */
export async function runDetail(deps: RunApiDeps, user: User, key: RunKey): Promise<RunDetail> {
  const run = await runForViewer(deps, user, key);
  const audit = await deps.audit.list(key);
  const standing = reviewStanding(deps, user, run);
  // Not archived (yet): no manifest to show or compare (a failed archive may have left a partial one: never read it).
  if (run.manifestDigest === undefined) return { run, changes: {}, diff: { added: [], removed: [], changed: [] }, audit, standing };
  const manifest = await readStoredManifest(deps.objects, run.objects.manifestKey);
  const baseline = await baselineOf(deps, run);
  const base = baseline ? await readStoredManifest(deps.objects, baseline.objects.manifestKey) : undefined;
  const { changes, ...diff } = diffManifests(base, manifest);
  const outputs = run.objects.outputsManifestKey ? await readStoredManifest(deps.objects, run.objects.outputsManifestKey, run.objects.outputsManifestRevision) : undefined;
  return { run, manifest, changes, diff: { ...(baseline ? { baseline } : {}), ...diff }, ...(outputs ? { outputs } : {}), audit, standing };
}

export interface FileView {
  readonly entry: ManifestEntry;
  readonly bytes: Buffer;
  readonly truncated: boolean;
  readonly kind: 'text' | 'binary';
  /** Unified diff against the baseline's file (code, text only, when asked). */
  readonly diff?: { readonly baseline?: Run; readonly unified: string };
}

function isText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  // A cut may split a multi-byte character: ignore up to 3 trailing bytes when checking.
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const bad = (text.match(/\uFFFD/g) ?? []).length;
  return bad <= 1;
}

/** `GET /api/runs/{id}/files/{path}`: one file of the submitted code or of the outputs, checked against its manifest. */
export async function runFile(deps: RunApiDeps, user: User, key: RunKey, request: { readonly path: string; readonly from: 'code' | 'outputs'; readonly diff?: boolean }): Promise<FileView> {
  assertRelativePath(request.path);
  const run = await runForViewer(deps, user, key);
  if (request.from === 'code' && run.manifestDigest === undefined) throw new NotFoundError(`Run ${runRef(key)} has no submitted files yet (it is ${run.state})`);
  const manifestKey = request.from === 'code' ? run.objects.manifestKey : run.objects.outputsManifestKey;
  const archiveKey = request.from === 'code' ? run.objects.archiveKey : run.objects.outputsKey;
  // The outputs are read at the revisions the collect step stored (the code has one version: create-only keys).
  const [manifestRevision, archiveRevision] = request.from === 'code' ? [] : [run.objects.outputsManifestRevision, run.objects.outputsRevision];
  if (!manifestKey || !archiveKey) throw new NotFoundError(`Run ${runRef(key)} has no outputs yet`);
  const manifest = await readStoredManifest(deps.objects, manifestKey, manifestRevision);
  const entry = manifest.files.find((f) => f.path === request.path);
  if (!entry) throw new NotFoundError(`No file ${request.path} in the ${request.from === 'code' ? 'submitted code' : 'outputs'} of run ${runRef(key)}`);
  const max = deps.limits.fileViewMaxBytes;
  const read = await deps.files.file(archiveKey, entry.path, max, archiveRevision);
  if (!read || read.sha256 !== entry.sha256 || read.size !== entry.size) throw new IntegrityError(`The stored ${entry.path} does not match the manifest reviewers see`);
  const kind = isText(read.bytes) ? 'text' : 'binary';
  let diff: FileView['diff'];
  if (request.diff) {
    if (request.from !== 'code' || kind !== 'text') throw new ValidationError('A diff is available for text files of the submitted code only', ['query.diff applies to text files with from=code']);
    const baseline = await baselineOf(deps, run);
    let before = '';
    if (baseline) {
      const old = await deps.files.file(baseline.objects.archiveKey, entry.path, max);
      before = old ? old.bytes.toString('utf8') : '';
    }
    diff = { ...(baseline ? { baseline } : {}), unified: deps.diff(entry.path, before, read.bytes.toString('utf8')) };
  }
  return { entry, bytes: read.bytes, truncated: read.size > read.bytes.length, kind, ...(diff ? { diff } : {}) };
}

/** `POST /api/runs/{id}/decisions`: a reviewer's decision at the run's current review step. */
export async function decideOnRun(
  deps: RunDeps,
  reviewer: User,
  key: RunKey,
  input: { readonly verdict: 'approve' | 'reject'; readonly comment: string; readonly manifestDigest: string },
): Promise<{ readonly run: Run; readonly outcome: ReviewOutcome }> {
  if (!isReviewer(deps, reviewer)) throw new NotAllowedError(`${reviewer.userId} is not a reviewer`);
  const run = await readRun(deps, key);
  if (run.submittedBy === reviewer.userId) throw new NotAllowedError('A reviewer cannot review their own run');
  if (!isReviewState(run.state)) throw new ConflictError(`Run ${runRef(key)} is ${run.state}, not waiting for review`);
  return decide(deps, reviewer, key, { step: run.state, ...input });
}

export interface Download {
  readonly run: Run;
  readonly bytes: Buffer;
  readonly sha256: string;
  /** The output file served, or undefined for the whole outputs archive. */
  readonly path?: string;
}

/**
 * `GET /api/runs/{id}/download?token=`: the released outputs, byte for byte what the reviewers approved.
 * The token must be this run's and unexpired, the caller a member; the bytes are checked against the
 * approved digest before they are returned. Each download is audited.
 */
/** The released run a download link grants `user`, with its outputs (every check before anything is read). */
async function releasedRun(deps: RunApiDeps, user: User, key: RunKey, token: string): Promise<{ run: Run; outputsKey: string; outputsDigest: string }> {
  const granted = await deps.links.verify(token, deps.clock.now());
  if (granted.analysisId !== key.analysisId || granted.runId !== key.runId) throw new NotAllowedError('This download link is for another run');
  await member(deps, user, key.analysisId);
  const run = await readRun(deps, key);
  if (run.state !== 'released') throw new ConflictError(`Run ${runRef(key)} is ${run.state}: only released outputs can be downloaded`);
  if (run.releaseExpiresAt && deps.clock.now().toISOString() >= run.releaseExpiresAt) throw new NotAllowedError(`The release of run ${runRef(key)} expired at ${run.releaseExpiresAt}`);
  const { outputsKey } = run.objects;
  if (!outputsKey || !run.outputsDigest) throw new IntegrityError('The released run has no outputs');
  return { run, outputsKey, outputsDigest: run.outputsDigest };
}

export interface DownloadLink {
  readonly run: Run;
  /** A link to exactly the checked bytes, valid for minutes. */
  readonly url: string;
  readonly sha256: string;
  readonly expiresAt: string;
}

/**
 * `GET /api/runs/{id}/download` with a CheckedLinks store: the same checks as downloadOutputs, then a short link to
 * exactly the outputs revision the release step checked against the approved manifest (no size cap: the store
 * serves it). Nothing is read in full here: the release recorded the archive's sha256 and size, and the store
 * only confirms that revision is still there, whatever the archive's size (the desk answers within seconds).
 */
export async function downloadOutputsLink(deps: RunApiDeps, user: User, key: RunKey, token: string): Promise<DownloadLink> {
  if (!deps.checkedLinks) throw new ConflictError('This deployment serves downloads through the desk only');
  const { run, outputsKey, outputsDigest } = await releasedRun(deps, user, key, token);
  const revision = run.objects.outputsRevision;
  const archive = run.releasedArchive;
  if (!revision || !archive) {
    throw new IntegrityError(`The released outputs of run ${runRef(key)} are not pinned to a stored revision checked at release; nothing was sent`);
  }
  const now = deps.clock.now().getTime();
  const expiresAt = new Date(Math.min(now + CHECKED_LINK_TTL_MS, Date.parse(run.releaseExpiresAt ?? new Date(now + CHECKED_LINK_TTL_MS).toISOString())));
  const url = await deps.checkedLinks.pinnedLink(outputsKey, { revision, size: archive.size }, expiresAt, `${key.runId}-outputs.tar.gz`);
  await deps.audit.append({ analysisId: key.analysisId, runId: key.runId, entryId: deps.newId(), at: deps.clock.now().toISOString(), actor: user.userId, action: 'downloaded', manifestDigest: outputsDigest });
  return { run, url, sha256: archive.sha256, expiresAt: expiresAt.toISOString() };
}

export async function downloadOutputs(deps: RunApiDeps, user: User, key: RunKey, token: string, path?: string): Promise<Download> {
  const { run, outputsKey, outputsDigest } = await releasedRun(deps, user, key, token);
  const served = path === undefined ? await wholeOutputs(deps, run, outputsKey, outputsDigest) : await oneOutput(deps, run, outputsKey, outputsDigest, path);
  await deps.audit.append({
    analysisId: key.analysisId,
    runId: key.runId,
    entryId: deps.newId(),
    at: deps.clock.now().toISOString(),
    actor: user.userId,
    action: 'downloaded',
    manifestDigest: outputsDigest,
    ...(path ? { comment: path } : {}),
  });
  return { run, ...served, ...(path !== undefined ? { path } : {}) };
}

/** The whole outputs archive through the desk (up to `downloadMaxBytes`), its manifest checked against the approved one. */
async function wholeOutputs(deps: RunApiDeps, run: Run, outputsKey: string, outputsDigest: string): Promise<{ bytes: Buffer; sha256: string }> {
  const loaded = await deps.files.load(outputsKey, deps.limits.downloadMaxBytes, run.objects.outputsRevision);
  if (loaded.manifest.digest !== outputsDigest) {
    throw new IntegrityError(`The stored outputs (digest ${loaded.manifest.digest}) are not the ones reviewers approved (${outputsDigest}); nothing was sent`);
  }
  return { bytes: loaded.bytes, sha256: createHash('sha256').update(loaded.bytes).digest('hex') };
}

/**
 * One output file (up to `downloadMaxBytes`), read out of the pinned archive without loading the rest, and sent only
 * if its size and sha256 are the approved manifest's entry: so a small file of a large archive can be downloaded too.
 */
async function oneOutput(deps: RunApiDeps, run: Run, outputsKey: string, outputsDigest: string, path: string): Promise<{ bytes: Buffer; sha256: string }> {
  assertRelativePath(path);
  if (!run.objects.outputsManifestKey) throw new IntegrityError('The released run has no outputs manifest');
  const approved = await readStoredManifest(deps.objects, run.objects.outputsManifestKey, run.objects.outputsManifestRevision);
  if (approved.digest !== outputsDigest) throw new IntegrityError(`The stored outputs manifest (${approved.digest}) is not the one reviewers approved (${outputsDigest}); nothing was sent`);
  const entry = approved.files.find((f) => f.path === path);
  if (!entry) throw new NotFoundError(`No output ${path} in run ${runRef(run)}`);
  const max = deps.limits.downloadMaxBytes;
  if (entry.size > max) {
    throw new ConflictError(`${path} is ${formatBytes(entry.size)}, more than the ${formatBytes(max)} the desk serves for one file: download the whole outputs archive`);
  }
  const read = await deps.files.file(outputsKey, path, max, run.objects.outputsRevision);
  if (!read || read.size !== entry.size || read.sha256 !== entry.sha256 || read.bytes.length !== read.size) throw new IntegrityError(`${path} does not match the approved manifest; nothing was sent`);
  return { bytes: read.bytes, sha256: read.sha256 };
}
