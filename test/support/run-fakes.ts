/**
 * In-memory implementations of the enclave run ports, keeping the production adapters' promises:
 * version-conditional run writes, an append-only audit log that refuses to overwrite, immutable objects.
 *
 *   const f = makeRunDeps();                 // every port faked, DEFAULT_RUN_POLICY, a FakeClock at T0
 *   const run = await submitted(f);          // a stored submission, state `submitted`
 */
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ConflictError, NotAllowedError, NotFoundError } from '../../lambdas/core/errors.js';
import {
  buildManifest,
  DEFAULT_RUN_POLICY,
  submitRun,
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
  type RunExecutions,
  type RunKey,
  type RunNotice,
  type RunPolicy,
  type RunStore,
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

export class FakeObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  async putNew(key: string, body: Buffer | Readable) {
    if (this.objects.has(key)) throw new ConflictError(`object ${key} exists`);
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(body)) chunks.push(body);
    else for await (const c of body) chunks.push(Buffer.from(c));
    this.objects.set(key, Buffer.concat(chunks));
  }
  async get(key: string) {
    const body = this.objects.get(key);
    if (!body) throw new NotFoundError(`no object ${key}`);
    return Readable.from([body]);
  }
  async link(key: string, expiresAt: Date) {
    return `fake://${key}?expires=${expiresAt.toISOString()}`;
  }
}

/** Archives are "stored" as the manifest of what they hold; a test tampers by replacing it. */
export class FakeArchiveReader implements ArchiveReader {
  readonly contents = new Map<string, Manifest>();
  async manifestOf(key: string) {
    const m = this.contents.get(key);
    if (!m) throw new NotFoundError(`no archive ${key}`);
    return m;
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
  readonly started: RunKey[] = [];
  async start(key: RunKey) {
    this.started.push({ analysisId: key.analysisId, runId: key.runId });
    return { executionId: `exec-${key.runId}` };
  }
}

export class FakeCollector implements OutputsCollector {
  constructor(private readonly archives: FakeArchiveReader, private readonly objects: FakeObjectStore, public files = [file('result.csv', 'n\n42\n')]) {}
  async collect(run: Run) {
    const manifest = buildManifest(this.files);
    const outputsKey = `runs/${run.runId}/outputs.tar.gz`;
    const outputsManifestKey = `runs/${run.runId}/outputs.manifest.json`;
    this.archives.contents.set(outputsKey, manifest);
    this.objects.objects.set(outputsManifestKey, Buffer.from(JSON.stringify(manifest)));
    return { manifest, outputsKey, outputsManifestKey };
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

export function makeRunDeps(overrides: { policy?: RunPolicy; reviewers?: string[] } = {}) {
  const objects = new FakeObjectStore();
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
    newId: () => `e${String(++n).padStart(4, '0')}`,
    executions: new FakeExecutions(),
    collector: new FakeCollector(archives, objects),
    checker: new FakeChecker(),
  };
  return deps satisfies StepDeps;
}

export const KEY: RunKey = { analysisId: 'demo', runId: 'run-1' };

/** Store a submission (archive "holding" `files`, its manifest) and record it as run KEY. */
export async function submitted(f: FakeRunDeps, files = [file('analysis.py', 'print(1)\n'), file('README.md', '# demo\n')]): Promise<Run> {
  const manifest = buildManifest(files);
  const objects = { archiveKey: `runs/${KEY.runId}/home.tar.gz`, manifestKey: `runs/${KEY.runId}/manifest.json` };
  f.archives.contents.set(objects.archiveKey, manifest);
  f.objects.objects.set(objects.manifestKey, Buffer.from(JSON.stringify(manifest)));
  return submitRun(f, { ...KEY, submittedBy: 'alice', description: 'first model', manifest, objects });
}
