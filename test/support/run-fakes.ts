/**
 * In-memory implementations of the enclave run ports, keeping the production adapters' promises:
 * version-conditional run writes, an append-only audit log that refuses to overwrite, immutable objects.
 *
 *   const f = makeRunDeps();                 // every port faked, DEFAULT_RUN_POLICY, a FakeClock at T0
 *   const run = await submitted(f);          // a submission archived and verified, state `submitted`
 */
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ConflictError, NotAllowedError, NotFoundError } from '../../lambdas/core/errors.js';
import {
  archiveHome,
  buildManifest,
  DEFAULT_RUN_POLICY,
  reviewPages,
  runObjectKeys,
  submitRun,
  verifyArchive,
  type HomeSnapshots,
  type ManifestEntry,
  type ArchiveReader,
  type AuditEntry,
  type AuditLog,
  type DisclosureChecker,
  type DisclosureFinding,
  type Manifest,
  type Notifier,
  type ObjectStore,
  type OutputsCollector,
  type Run,
  type RunCredentials,
  type RunExecutions,
  type RunKey,
  type RunNotice,
  type RunPolicy,
  type RunStore,
  type StoredObject,
  type ReleaseLinks,
  type ReviewStep,
  type StepDeps,
  type TaskTokens,
} from '../../lambdas/core/runs/index.js';
import { FakeClock, FakeLog, plain } from './fakes.js';

export class FakeRunStore implements RunStore {
  readonly records = new Map<string, Run>();
  private id(key: RunKey) {
    return `${key.analysisId}/${key.runId}`;
  }
  async get(key: RunKey) {
    const run = this.records.get(this.id(key));
    return run && plain(run);
  }
  async put(next: Run, expectedVersion: number | null) {
    const current = this.records.get(this.id(next));
    if (expectedVersion === null ? current !== undefined : current?.version !== expectedVersion) return false;
    this.records.set(this.id(next), plain(next));
    return true;
  }
  async listForAnalysis(analysisId: string, limit: number) {
    return [...this.records.values()]
      .filter((r) => r.analysisId === analysisId)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
      .slice(0, limit)
      .map(plain);
  }
  async listWaitingForReview(step: ReviewStep, limit: number) {
    return [...this.records.values()]
      .filter((r) => r.state === step)
      .sort((a, b) => (a.stateEnteredAt < b.stateEnteredAt ? -1 : 1))
      .slice(0, limit)
      .map(plain);
  }
  peek(key: RunKey): Run {
    const run = this.records.get(this.id(key));
    if (!run) throw new Error(`no run ${this.id(key)}`);
    return plain(run);
  }
}

export class FakeAuditLog implements AuditLog {
  readonly entries: AuditEntry[] = [];
  async append(entry: AuditEntry) {
    if (this.entries.some((e) => e.runId === entry.runId && e.entryId === entry.entryId)) throw new ConflictError(`audit entry ${entry.entryId} exists`);
    this.entries.push(plain(entry));
  }
  async list(key: RunKey) {
    return this.entries.filter((e) => e.analysisId === key.analysisId && e.runId === key.runId);
  }
}

/**
 * Objects in memory. `objects` holds each key's current bytes (a test tampers by replacing them). With `versioned`
 * every write is also kept as its own revision (`v1`, `v2`, ...), as on the versioned S3 bucket, and `get`/`head`
 * read a revision when asked; without it the store answers no revision, as the local folder store.
 */
export class FakeObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  readonly revisions = new Map<string, Buffer>();
  private readonly latest = new Map<string, string>();
  /** Every `get`: the key, the revision asked for and how many bytes were served. */
  readonly reads: { key: string; revision?: string; bytes: number }[] = [];
  private written = 0;
  constructor(readonly options: { readonly versioned?: boolean } = {}) {}

  async putNew(key: string, body: Buffer | Readable): Promise<StoredObject> {
    if (this.objects.has(key)) throw new ConflictError(`object ${key} exists`);
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(body)) chunks.push(body);
    else for await (const c of body) chunks.push(Buffer.from(c));
    return this.store(key, Buffer.concat(chunks));
  }

  /** Writes `key` whether or not it exists (a later version, as a replaced S3 object would make). */
  store(key: string, bytes: Buffer): StoredObject {
    this.objects.set(key, bytes);
    if (!this.options.versioned) return {};
    const revision = `v${++this.written}`;
    this.revisions.set(`${key}#${revision}`, bytes);
    this.latest.set(key, revision);
    return { revision };
  }

  private bytesOf(key: string, revision?: string): Buffer {
    const body = revision === undefined ? this.objects.get(key) : this.revisions.get(`${key}#${revision}`);
    if (!body) throw new NotFoundError(`no object ${key}${revision ? ` (revision ${revision})` : ''}`);
    return body;
  }

  async get(key: string, revision?: string) {
    const body = this.bytesOf(key, revision);
    this.reads.push({ key, ...(revision ? { revision } : {}), bytes: body.length });
    return Readable.from([body]);
  }

  async head(key: string, revision?: string) {
    const body = this.bytesOf(key, revision);
    const current = revision ?? this.latest.get(key);
    return { size: body.length, ...(current ? { revision: current } : {}) };
  }
  async link(key: string, expiresAt: Date) {
    return `fake://${key}?expires=${expiresAt.toISOString()}`;
  }
}

/** The bytes FakeCollector stores as an outputs archive holding `manifest` (what FakeArchiveReader.inspect hashes). */
export function fakeArchiveBytes(manifest: Manifest): Buffer {
  return Buffer.from(`archive of ${manifest.digest}`);
}

/**
 * Archives are "stored" as the manifest of what they hold, by key (`<key>#<revision>` for one revision); a test
 * tampers by replacing it. `inspect` answers a sha256 and size derived from that manifest.
 */
export class FakeArchiveReader implements ArchiveReader {
  readonly contents = new Map<string, Manifest>();
  /** Every full read: the key and the revision asked for. */
  readonly reads: { key: string; revision?: string }[] = [];
  set(key: string, revision: string | undefined, manifest: Manifest) {
    this.contents.set(key, manifest);
    if (revision) this.contents.set(`${key}#${revision}`, manifest);
  }
  async manifestOf(key: string, revision?: string) {
    this.reads.push({ key, ...(revision ? { revision } : {}) });
    const m = this.contents.get(revision ? `${key}#${revision}` : key);
    if (!m) throw new NotFoundError(`no archive ${key}${revision ? ` (revision ${revision})` : ''}`);
    return m;
  }
  async inspect(key: string, revision?: string) {
    const manifest = await this.manifestOf(key, revision);
    const bytes = fakeArchiveBytes(manifest);
    return { manifest, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  }
}

/** Links `fake://<analysisId>.<runId>?expires=<ms>`: verify refuses another run's or an expired one. */
export class FakeReleaseLinks implements ReleaseLinks {
  async link(key: RunKey, expiresAt: Date) {
    return `fake://${key.analysisId}.${key.runId}?expires=${expiresAt.getTime()}`;
  }
  async verify(token: string, now: Date) {
    const m = /^fake:\/\/([^.]+)\.([^?]+)\?expires=(\d+)$/.exec(token);
    if (!m) throw new NotAllowedError('This download link is not valid');
    if (now.getTime() >= Number(m[3])) throw new NotAllowedError('This download link has expired');
    return { analysisId: m[1]!, runId: m[2]! };
  }
}

export class FakeTaskTokens implements TaskTokens {
  readonly calls: { kind: 'succeed' | 'fail'; token: string; output?: Record<string, unknown>; error?: string }[] = [];
  async succeed(token: string, output: Record<string, unknown>) {
    this.calls.push({ kind: 'succeed', token, output });
  }
  async fail(token: string, error: string) {
    this.calls.push({ kind: 'fail', token, error });
  }
}

export class FakeNotifier implements Notifier {
  readonly sent: { notice: RunNotice; runId: string; to: readonly string[]; message: string; link?: string }[] = [];
  async notify(notice: RunNotice, run: Run, detail: { to: readonly string[]; message: string; link?: string }) {
    this.sent.push({ notice, runId: run.runId, ...detail });
  }
}

export class FakeExecutions implements RunExecutions {
  readonly started: (RunKey & { submittedBy: string })[] = [];
  async start(key: RunKey & { readonly submittedBy: string }) {
    this.started.push({ analysisId: key.analysisId, runId: key.runId, submittedBy: key.submittedBy });
    return { executionId: `exec-${key.runId}` };
  }
}

/** Homes by `<analysisId>/<userId>` (absent: no home); a snapshot "stores" the archive as its manifest, as FakeArchiveReader reads it. */
export class FakeHomeSnapshots implements HomeSnapshots {
  readonly homes = new Map<string, ManifestEntry[]>();
  readonly calls: { analysisId: string; userId: string; archiveKey: string }[] = [];
  constructor(private readonly archives: FakeArchiveReader, private readonly objects: FakeObjectStore) {}
  async snapshot(home: { readonly analysisId: string; readonly userId: string }, keys: { readonly archiveKey: string; readonly manifestKey: string }) {
    this.calls.push({ ...home, archiveKey: keys.archiveKey });
    const files = this.homes.get(`${home.analysisId}/${home.userId}`);
    if (!files) throw new NotFoundError(`No home for ${home.userId} in ${home.analysisId}`);
    const manifest = buildManifest(files);
    await this.objects.putNew(keys.archiveKey, Buffer.from(`archive of ${manifest.digest}`));
    this.archives.contents.set(keys.archiveKey, manifest);
    await this.objects.putNew(keys.manifestKey, Buffer.from(JSON.stringify(manifest)));
    return manifest;
  }
}

export class FakeCollector implements OutputsCollector {
  constructor(private readonly archives: FakeArchiveReader, private readonly objects: FakeObjectStore, public files = [file('result.csv', 'n\n42\n')]) {}
  async collect(run: Run) {
    const manifest = buildManifest(this.files);
    const outputsKey = `runs/${run.runId}/outputs.tar.gz`;
    const outputsManifestKey = `runs/${run.runId}/outputs.manifest.json`;
    const archive = this.objects.store(outputsKey, fakeArchiveBytes(manifest));
    const manifestObject = this.objects.store(outputsManifestKey, Buffer.from(JSON.stringify(manifest)));
    this.archives.set(outputsKey, archive.revision, manifest);
    return {
      manifest,
      outputsKey,
      outputsManifestKey,
      ...(archive.revision ? { outputsRevision: archive.revision } : {}),
      ...(manifestObject.revision ? { outputsManifestRevision: manifestObject.revision } : {}),
    };
  }
}

/** Per-run credentials as a set of runs that hold some (prepare adds, clean-up removes; missing = done). */
export class FakeCredentials implements RunCredentials {
  readonly held = new Set<string>();
  readonly calls: string[] = [];
  failCleanUp?: Error;
  async prepare(run: Run) {
    this.calls.push(`prepare ${run.runId}`);
    this.held.add(`${run.analysisId}/${run.runId}`);
  }
  async cleanUp(key: RunKey) {
    this.calls.push(`clean-up ${key.runId}`);
    if (this.failCleanUp) throw this.failCleanUp;
    const id = `${key.analysisId}/${key.runId}`;
    const had = this.held.delete(id);
    return had ? [`role of ${id}`] : [];
  }
}

export class FakeChecker implements DisclosureChecker {
  findings: DisclosureFinding[] = [];
  async check() {
    return this.findings;
  }
}

export function file(path: string, content: string) {
  const bytes = Buffer.from(content);
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export type FakeRunDeps = ReturnType<typeof makeRunDeps>;

export function makeRunDeps(overrides: { policy?: RunPolicy; reviewers?: string[]; versioned?: boolean } = {}) {
  const objects = new FakeObjectStore({ versioned: overrides.versioned ?? false });
  const archives = new FakeArchiveReader();
  let n = 0;
  const deps = {
    runs: new FakeRunStore(),
    audit: new FakeAuditLog(),
    objects,
    links: new FakeReleaseLinks(),
    archives,
    tokens: new FakeTaskTokens(),
    notifier: new FakeNotifier(),
    clock: new FakeClock(),
    policy: overrides.policy ?? DEFAULT_RUN_POLICY,
    log: new FakeLog(),
    reviewers: overrides.reviewers ?? ['rita', 'rob'],
    reviewPageOf: reviewPages('https://desk.test'),
    newId: () => `e${String(++n).padStart(4, '0')}`,
    executions: new FakeExecutions(),
    collector: new FakeCollector(archives, objects),
    checker: new FakeChecker(),
    credentials: new FakeCredentials(),
    snapshots: new FakeHomeSnapshots(archives, objects),
  };
  return deps satisfies StepDeps;
}

export const KEY: RunKey = { analysisId: 'demo', runId: 'run-1' };

/** Submit alice's home holding `files` as run KEY, archive it and verify it: the run is `submitted`. */
export async function submitted(f: FakeRunDeps, files = [file('analysis.py', 'print(1)\n'), file('README.md', '# demo\n'), file('run.sh', 'python3 analysis.py\n')]): Promise<Run> {
  f.snapshots.homes.set(`${KEY.analysisId}/alice`, files);
  await submitRun(f, { ...KEY, submittedBy: 'alice', description: 'first model', objects: runObjectKeys(KEY) });
  const archived = await archiveHome(f, KEY, 'alice');
  await verifyArchive(f, KEY, archived.digest);
  return f.runs.peek(KEY);
}
