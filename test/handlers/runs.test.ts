/**
 * The enclave run routes, handler by handler: the real handlers, core use cases, archives (tar.gz over an
 * in-memory object store), release links signed with a local key and unified diffs; the run store, audit
 * log, task tokens and state machine are the run fakes (the integration test drives the real ones).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_EXCLUDES, manifestOfArchive, storeArchive, StoredArchiveReader, storeOutputs } from '../../lambdas/adapters/archive.js';
import { StoredArchiveFiles } from '../../lambdas/adapters/archive-files.js';
import { DeskReleaseLinks } from '../../lambdas/adapters/release-links.js';
import { unifiedDiff } from '../../lambdas/adapters/text-diff.js';
import {
  advanceRun,
  archiveHome,
  checkDisclosure,
  collectOutputs,
  parseRunRef,
  releaseRun,
  requestReview,
  runRef,
  type RunApiDeps,
  type RunKey,
  verifyArchive,
} from '../../lambdas/core/runs/index.js';
import { IntegrityError } from '../../lambdas/core/runs/manifest.js';
import { HTTP_HANDLERS, type AppDeps } from '../../lambdas/handlers/app.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { HTTP_ROUTES, type RunEntry } from '../../lambdas/handlers/routes.js';
import { MountedHomeSnapshots } from '../../lambdas/adapters/mounted-home-snapshots.js';
import { makeRunDeps, type FakeRunDeps } from '../support/run-fakes.js';
import { bodyOf, httpEvent, makeAppDeps, sessionCookie, type EventOptions, type TestDeps } from './support.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ROLES: Record<string, string[]> = { alice: ['researcher'], bob: ['researcher', 'reviewer'], rita: ['reviewer'], rob: ['reviewer'], pat: ['admin'] };

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'carrel-runs-handlers-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface World {
  readonly app: TestDeps & { enclave: RunApiDeps };
  readonly f: FakeRunDeps;
  readonly enclave: RunApiDeps & FakeRunDeps;
  readonly homes: string;
  readonly outputs: string;
}

/** App deps with the enclave over run fakes; alice's home holds a script, a PNG, a large file and synthetic data. */
async function world(options: { fileViewMaxBytes?: number; downloadMaxBytes?: number; versioned?: boolean } = {}): Promise<World> {
  const app = await makeAppDeps();
  const f = makeRunDeps({ reviewers: ['rita'], versioned: options.versioned ?? false });
  const archives = new StoredArchiveReader(f.objects);
  const dir = await mkdtemp(join(root, 'w-'));
  const homes = join(dir, 'homes');
  const outputs = join(dir, 'outputs');
  const alice = join(homes, 'demo', 'alice');
  await mkdir(join(alice, 'data', 'synthetic'), { recursive: true });
  await writeFile(join(alice, 'analysis.py'), 'print("hello")\n');
  await writeFile(join(alice, 'run.sh'), 'python3 analysis.py\n');
  await writeFile(join(alice, 'plot.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
  await writeFile(join(alice, 'notes.txt'), 'x'.repeat(200));
  await writeFile(join(alice, 'data', 'synthetic', 'people.csv'), 'id\n1\n');
  await mkdir(join(homes, 'demo', 'bob'), { recursive: true });
  await writeFile(join(homes, 'demo', 'bob', 'run.sh'), 'echo bob\n');
  await mkdir(outputs, { recursive: true });
  await writeFile(join(outputs, 'table.csv'), 'group,count\nall,57\nrare,3\n');
  const enclave = {
    ...f,
    clock: app.clock,
    links: new DeskReleaseLinks(app.signer, 'https://desk.test'),
    catalog: app.catalog,
    snapshots: new MountedHomeSnapshots({ pathOf: (k) => join(homes, k.analysisId, k.userId) }, f.objects, DEFAULT_EXCLUDES),
    files: new StoredArchiveFiles(f.objects),
    diff: unifiedDiff,
    limits: { fileViewMaxBytes: options.fileViewMaxBytes ?? 1024, downloadMaxBytes: options.downloadMaxBytes ?? 1024 * 1024, smallCountThreshold: 10 },
    // Real archives in the object store, read back by the real reader: the archive step stores the home and
    // the verify step checks it; the run's outputs are a real archive of the outputs folder (release checks it).
    archives,
    collector: {
      collect: (run: RunKey) => storeOutputs(f.objects, archives, outputs, { archiveKey: `runs/${run.runId}/outputs.tar.gz`, manifestKey: `runs/${run.runId}/outputs.manifest.json` }),
    },
  };
  return { app: { ...app, enclave } as World['app'], f, enclave: enclave as unknown as World['enclave'], homes, outputs };
}

const ROUTE_OF = Object.fromEntries(HTTP_ROUTES.map((r) => [r.entry, `${r.method} ${r.path}`])) as Record<RunEntry, string>;

async function call(w: World, entry: RunEntry, options: EventOptions & { as?: string | null } = {}): Promise<HttpResult> {
  const as = options.as === undefined ? 'alice' : options.as;
  const cookies = as === null ? [] : [sessionCookie(await w.app.idp.session(as, { now: w.app.clock.now(), groups: ROLES[as] ?? [] }))];
  return (await HTTP_HANDLERS[entry](w.app as AppDeps)(httpEvent(ROUTE_OF[entry], { ...options, cookies }))) as HttpResult;
}

function assertError(result: HttpResult, status: number, pattern?: RegExp) {
  assert.equal(result.statusCode, status, `expected ${status}, got ${result.statusCode}: ${result.body}`);
  const message = bodyOf(result).error.message as string;
  if (pattern) assert.match(message, pattern);
}

/** Submit (202, archiving), then the state machine's first two steps: ArchiveHome and VerifyArchive. */
async function submitAs(w: World, as = 'alice', description = 'first look'): Promise<{ id: string; key: RunKey; manifestDigest: string }> {
  const result = await call(w, 'submit-run', { as, pathParameters: { analysisId: 'demo' }, body: { description } });
  assert.equal(result.statusCode, 202, result.body);
  const view = bodyOf(result);
  assert.equal(view.state, 'archiving');
  const key = parseRunRef(view.id);
  const archived = await archiveHome(w.enclave, key, as);
  await verifyArchive(w.enclave, key, archived.digest);
  return { id: view.id, key, manifestDigest: archived.digest };
}

async function atCodeReview(w: World, as = 'alice') {
  const run = await submitAs(w, as);
  await requestReview(w.enclave, run.key, 'code-review', 'token-code');
  return run;
}

/** Through code review (rita approves) and collection to output review; returns the outputs digest. */
async function atOutputReview(w: World) {
  const run = await atCodeReview(w);
  const approved = await call(w, 'decide-run', { as: 'rita', pathParameters: { runId: run.id }, body: { verdict: 'approve', comment: 'ok', manifestDigest: run.manifestDigest } });
  assert.equal(approved.statusCode, 200, approved.body);
  await advanceRun(w.enclave, run.key, 'building');
  await advanceRun(w.enclave, run.key, 'running');
  await collectOutputs(w.enclave, run.key, 0);
  w.f.checker.findings = [{ path: 'table.csv', where: 'row 3, column 2 (count)', rule: 'small-count', detail: '3 is below 10' }];
  await checkDisclosure(w.enclave, run.key);
  const waiting = await requestReview(w.enclave, run.key, 'output-review', 'token-outputs');
  return { ...run, outputsDigest: waiting.outputsDigest! };
}

async function released(w: World) {
  const run = await atOutputReview(w);
  const approved = await call(w, 'decide-run', { as: 'rita', pathParameters: { runId: run.id }, body: { verdict: 'approve', comment: '', manifestDigest: run.outputsDigest } });
  assert.equal(approved.statusCode, 200, approved.body);
  await releaseRun(w.enclave, run.key);
  const list = bodyOf(await call(w, 'list-runs', { pathParameters: { analysisId: 'demo' } }));
  const url = new URL(list.runs[0].download.url);
  return { ...run, url, token: url.searchParams.get('token')! };
}

describe('POST /api/analyses/{analysisId}/runs', () => {
  it('records the run as archiving and starts it at once: 202 with the run view (no manifest yet); the archive step then stores the home without the exclusions', async () => {
    // Prepare
    const w = await world();
    // Act
    const result = await call(w, 'submit-run', { pathParameters: { analysisId: 'demo' }, body: { description: '  regions  ' } });
    // Assess
    assert.equal(result.statusCode, 202, result.body);
    const view = bodyOf(result);
    assert.equal(view.id, runRef(view));
    assert.deepEqual([view.state, view.submittedBy, view.description, view.decisions], ['archiving', 'alice', 'regions', []]);
    assert.equal('manifestDigest' in view, false, 'not archived yet');
    assert.equal('taskToken' in view || 'objects' in view, false, 'no token, no object keys');
    assert.equal(w.f.objects.objects.size, 0, 'nothing archived within the request');
    assert.deepEqual(w.f.executions.started, [{ ...parseRunRef(view.id), submittedBy: 'alice' }]);
    // Act: the state machine's ArchiveHome step
    const stored = w.f.runs.peek(parseRunRef(view.id));
    await archiveHome(w.enclave, stored, stored.submittedBy);
    // Assess
    const manifest = JSON.parse(w.f.objects.objects.get(stored.objects.manifestKey)!.toString());
    assert.deepEqual(manifest.files.map((x: { path: string }) => x.path), ['analysis.py', 'notes.txt', 'plot.png', 'run.sh']);
  });

  it('shows a run still archiving to its submitter: no manifest, no diff, and no code file yet', async () => {
    // Prepare
    const w = await world();
    const view = bodyOf(await call(w, 'submit-run', { pathParameters: { analysisId: 'demo' }, body: { description: 'x' } }));
    // Act
    const detail = await call(w, 'get-run', { pathParameters: { runId: view.id } });
    const file = await call(w, 'run-file', { pathParameters: { runId: view.id, path: 'analysis.py' } });
    // Assess
    assert.equal(detail.statusCode, 200, detail.body);
    const body = bodyOf(detail);
    assert.equal(body.run.state, 'archiving');
    assert.equal(body.manifest, undefined);
    assert.deepEqual(body.diff, { baseline: null, added: [], removed: [], changed: [] });
    assert.deepEqual(body.audit.map((a: { action: string; manifestDigest?: string }) => [a.action, a.manifestDigest]), [['submitted', undefined]]);
    assertError(file, 404, /no submitted files yet/);
  });

  const refusals: [string, number, EventOptions & { as?: string | null }, RegExp][] = [
    ['no session', 401, { as: null, pathParameters: { analysisId: 'demo' }, body: { description: 'x' } }, /./],
    ['a body that is not JSON', 400, { pathParameters: { analysisId: 'demo' }, rawBody: '{description' }, /not valid JSON/],
    ['no description', 400, { pathParameters: { analysisId: 'demo' }, body: {} }, /body\.description is required/],
    ['a description that is not a string', 400, { pathParameters: { analysisId: 'demo' }, body: { description: 5 } }, /body\.description must be a string$/],
    ['a blank description', 400, { pathParameters: { analysisId: 'demo' }, body: { description: '   ' } }, /body\.description must not be empty/],
    ['a description over 500 characters', 400, { pathParameters: { analysisId: 'demo' }, body: { description: 'x'.repeat(501) } }, /at most 500/],
    ['an unexpected field', 400, { pathParameters: { analysisId: 'demo' }, body: { description: 'x', files: ['a'] } }, /unexpected field\(s\): files/],
    ['a malformed analysis id', 400, { pathParameters: { analysisId: '../etc' }, body: { description: 'x' } }, /path\.analysisId/],
    ['an analysis the caller is not on', 403, { pathParameters: { analysisId: 'census-2021' }, body: { description: 'x' } }, /not a researcher on analysis "census-2021"/],
    ['an unknown analysis', 404, { pathParameters: { analysisId: 'nope' }, body: { description: 'x' } }, /No analysis "nope"/],
  ];
  for (const [what, status, options, pattern] of refusals) {
    it(`refuses ${what} with ${status}, storing and starting nothing`, async () => {
      // Prepare
      const w = await world();
      // Act
      const result = await call(w, 'submit-run', options);
      // Assess
      assertError(result, status, pattern);
      assert.equal(w.f.runs.records.size, 0);
      assert.equal(w.f.objects.objects.size, 0);
      assert.equal(w.f.executions.started.length, 0);
    });
  }

  it('answers 404 when the deployment has no enclave', async () => {
    // Prepare
    const w = await world();
    const { enclave: _none, ...withoutEnclave } = w.app;
    // Act
    const result = (await HTTP_HANDLERS['submit-run'](withoutEnclave as AppDeps)(
      httpEvent(ROUTE_OF['submit-run'], { pathParameters: { analysisId: 'demo' }, body: { description: 'x' }, cookies: [sessionCookie(await w.app.idp.session('alice', { now: w.app.clock.now() }))] }),
    )) as HttpResult;
    // Assess
    assertError(result, 404, /not set up in this deployment/);
  });
});

describe('GET /api/analyses/{analysisId}/runs', () => {
  it("lists the analysis's runs newest first for its members, with a download link only once released", async () => {
    // Prepare
    const w = await world();
    const first = await released(w);
    w.app.clock.advance(2_000);
    const second = await submitAs(w, 'alice', 'second');
    // Act
    const result = await call(w, 'list-runs', { as: 'bob', pathParameters: { analysisId: 'demo' } });
    // Assess
    assert.equal(result.statusCode, 200, result.body);
    const runs = bodyOf(result).runs;
    assert.deepEqual(runs.map((r: { id: string }) => r.id), [second.id, first.id]);
    assert.equal(runs[0].download, undefined);
    assert.match(runs[1].download.url, new RegExp(`^https://desk\\.test/api/runs/${first.id.replace('.', '\\.')}/download\\?token=`));
    assert.equal(runs[1].download.expiresAt, runs[1].releaseExpiresAt);
  });

  it('refuses someone who is not on the analysis (403) and an unexpected body (400)', async () => {
    // Prepare
    const w = await world();
    // Act
    const stranger = await call(w, 'list-runs', { as: 'rita', pathParameters: { analysisId: 'demo' } });
    const body = await call(w, 'list-runs', { pathParameters: { analysisId: 'demo' }, body: { all: true } });
    // Assess
    assertError(stranger, 403, /not a researcher/);
    assertError(body, 400, /unexpected field/);
  });
});

describe('GET /api/review/queue', () => {
  it('lists runs waiting for review oldest first, with the step, the waiting time and whether the caller may decide', async () => {
    // Prepare
    const w = await world();
    const older = await atCodeReview(w, 'alice');
    w.app.clock.advance(60_000);
    const own = await atCodeReview(w, 'bob');
    w.app.clock.advance(30_000);
    // Act
    const result = await call(w, 'review-queue', { as: 'bob' });
    const filtered = await call(w, 'review-queue', { as: 'rita', query: { step: 'output-review' } });
    // Assess
    assert.equal(result.statusCode, 200, result.body);
    const runs = bodyOf(result).runs;
    assert.deepEqual(
      runs.map((r: { id: string; step: string; waitingSeconds: number; mayDecide: boolean; why?: string }) => [r.id, r.step, r.waitingSeconds, r.mayDecide, r.why]),
      [
        [older.id, 'code-review', 90, true, undefined],
        [own.id, 'code-review', 30, false, 'A reviewer cannot review their own run'],
      ],
    );
    assert.deepEqual(bodyOf(filtered).runs, []);
  });

  it('is for reviewers only (403) and refuses an unknown step (400)', async () => {
    // Prepare
    const w = await world();
    // Act
    const researcher = await call(w, 'review-queue', { as: 'alice' });
    const badStep = await call(w, 'review-queue', { as: 'rita', query: { step: 'building' } });
    const extra = await call(w, 'review-queue', { as: 'rita', query: { all: 'yes' } });
    // Assess
    assertError(researcher, 403, /Only reviewers/);
    assertError(badStep, 400, /query\.step must be code-review or output-review/);
    assertError(extra, 400, /unexpected parameter/);
  });
});

describe('GET /api/runs/{runId}', () => {
  it('shows a reviewer the manifest, the diff against the last approved run, the outputs with findings and the audit log', async () => {
    // Prepare
    const w = await world();
    const approved = await atOutputReview(w);
    await writeFile(join(w.homes, 'demo', 'alice', 'analysis.py'), 'print("changed")\n');
    await rm(join(w.homes, 'demo', 'alice', 'notes.txt'));
    w.app.clock.advance(1_000);
    const next = await atCodeReview(w);
    // Act
    const older = bodyOf(await call(w, 'get-run', { as: 'rita', pathParameters: { runId: approved.id } }));
    const newer = bodyOf(await call(w, 'get-run', { as: 'rita', pathParameters: { runId: next.id } }));
    // Assess
    assert.deepEqual([older.step, older.mayDecide, older.requiredApprovals, older.smallCountThreshold], ['output-review', true, 1, 10]);
    assert.deepEqual(older.outputs.files.map((x: { path: string; findings: unknown[] }) => [x.path, x.findings.length]), [['table.csv', 1]]);
    assert.equal(older.outputs.digest, approved.outputsDigest);
    assert.deepEqual(older.audit.map((e: { action: string; actor: string }) => `${e.action}:${e.actor}`), ['submitted:alice', 'archived:system', 'review-requested:system', 'approved:rita', 'review-requested:system']);
    assert.deepEqual(newer.diff, { baseline: { id: approved.id, createdAt: older.run.createdAt }, added: [], removed: ['notes.txt'], changed: ['analysis.py'] });
    assert.deepEqual(newer.manifest.files.map((x: { path: string; change: string }) => [x.path, x.change]), [['analysis.py', 'changed'], ['plot.png', 'unchanged'], ['run.sh', 'unchanged']]);
  });

  it('shows the submitter their own run, and refuses other researchers (403), bad ids (400) and unknown runs (404)', async () => {
    // Prepare
    const w = await world();
    const run = await atCodeReview(w);
    // Act
    const own = await call(w, 'get-run', { pathParameters: { runId: run.id } });
    const other = await call(w, 'get-run', { as: 'pat', pathParameters: { runId: run.id } });
    const bad = await call(w, 'get-run', { as: 'rita', pathParameters: { runId: 'no-dot-here' } });
    const unknown = await call(w, 'get-run', { as: 'rita', pathParameters: { runId: 'demo.r20300101t090000z-nothere000' } });
    // Assess
    assert.equal(own.statusCode, 200);
    assert.deepEqual([bodyOf(own).mayDecide, bodyOf(own).why], [false, 'This is your run: reviewers decide on it, and you are told when they have']);
    assertError(other, 403, /Only reviewers and the researcher who submitted it/);
    assertError(bad, 400, /Not a run id/);
    assertError(unknown, 404, /No run demo\.r20300101t090000z-nothere000/);
  });
});

describe('GET /api/runs/{runId}/files/{path+}', () => {
  it('returns text as text, binary as base64 with its media type, a file over the cap cut and marked truncated', async () => {
    // Prepare
    const w = await world({ fileViewMaxBytes: 100 });
    const run = await submitAs(w);
    // Act
    const text = bodyOf(await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'analysis.py' } }));
    const png = bodyOf(await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'plot.png' } }));
    const long = bodyOf(await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'notes.txt' } }));
    // Assess
    assert.deepEqual([text.kind, text.mediaType, text.text, text.truncated, text.sha256], ['text', 'text/plain', 'print("hello")\n', false, sha(Buffer.from('print("hello")\n'))]);
    assert.deepEqual([png.kind, png.mediaType, Buffer.from(png.base64, 'base64').length], ['binary', 'image/png', 8]);
    assert.deepEqual([long.truncated, long.size, long.text.length], [true, 200, 100]);
  });

  it('gives a unified diff against the last approved run, and output files once collected', async () => {
    // Prepare
    const w = await world();
    const approved = await atOutputReview(w);
    await writeFile(join(w.homes, 'demo', 'alice', 'analysis.py'), 'print("changed")\n');
    w.app.clock.advance(1_000);
    const next = await submitAs(w);
    // Act
    const diff = bodyOf(await call(w, 'run-file', { as: 'rita', pathParameters: { runId: next.id, path: 'analysis.py' }, query: { diff: 'true' } }));
    const table = bodyOf(await call(w, 'run-file', { as: 'rita', pathParameters: { runId: approved.id, path: 'table.csv' }, query: { from: 'outputs' } }));
    // Assess
    assert.equal(diff.diff.baseline, approved.id);
    assert.match(diff.diff.unified, /-print\("hello"\)\n\+print\("changed"\)/);
    assert.deepEqual([table.mediaType, table.text], ['text/csv', 'group,count\nall,57\nrare,3\n']);
  });

  it('refuses a file not in the manifest (404), outputs not collected yet (404), a traversal (400), a bad query (400), another researcher (403)', async () => {
    // Prepare
    const w = await world();
    const run = await submitAs(w);
    // Act
    const missing = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'data/synthetic/people.csv' } });
    const noOutputs = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'table.csv' }, query: { from: 'outputs' } });
    const traversal = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: '../../etc/passwd' } });
    const badQuery = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'analysis.py' }, query: { from: 'home' } });
    const binaryDiff = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'plot.png' }, query: { diff: 'true' } });
    const other = await call(w, 'run-file', { as: 'bob', pathParameters: { runId: run.id, path: 'analysis.py' } });
    // Assess
    assertError(missing, 404, /No file data\/synthetic\/people\.csv in the submitted code/);
    assertError(noOutputs, 404, /has no outputs yet/);
    assertError(traversal, 400, /Not a plain relative path/);
    assertError(badQuery, 400, /query\.from must be code or outputs/);
    assertError(binaryDiff, 400, /text files/);
    // bob is a reviewer in these tests: he may look; pat may not.
    assert.equal(other.statusCode, 200);
    assertError(await call(w, 'run-file', { as: 'pat', pathParameters: { runId: run.id, path: 'analysis.py' } }), 403);
  });

  it('refuses a stored file that no longer matches the manifest (409)', async () => {
    // Prepare: the stored archive is replaced by one of a changed home
    const w = await world();
    const run = await submitAs(w);
    const stored = w.f.runs.peek(run.key);
    await writeFile(join(w.homes, 'demo', 'alice', 'analysis.py'), 'import os; os.system("curl evil")\n');
    w.f.objects.objects.delete(stored.objects.archiveKey);
    w.f.objects.objects.delete(stored.objects.manifestKey);
    await storeArchive(w.f.objects, join(w.homes, 'demo', 'alice'), { archiveKey: stored.objects.archiveKey, manifestKey: 'elsewhere.json' });
    w.f.objects.objects.set(stored.objects.manifestKey, w.f.objects.objects.get('elsewhere.json')!);
    const original = JSON.parse(w.f.objects.objects.get(stored.objects.manifestKey)!.toString());
    original.files = original.files.map((x: { path: string; sha256: string }) => (x.path === 'analysis.py' ? { ...x, sha256: sha(Buffer.from('print("hello")\n')), size: 15 } : x));
    const { buildManifest } = await import('../../lambdas/core/runs/manifest.js');
    w.f.objects.objects.set(stored.objects.manifestKey, Buffer.from(JSON.stringify(buildManifest(original.files))));
    // Act
    const result = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: run.id, path: 'analysis.py' } });
    // Assess
    assertError(result, 409, /does not match the manifest/);
  });
});

describe('POST /api/runs/{runId}/decisions', () => {
  it("records rita's approval at the run's step and completes the waiting step with the outcome", async () => {
    // Prepare
    const w = await world();
    const run = await atCodeReview(w);
    // Act
    const result = await call(w, 'decide-run', { as: 'rita', pathParameters: { runId: run.id }, body: { verdict: 'approve', comment: 'fine', manifestDigest: run.manifestDigest } });
    // Assess
    assert.equal(result.statusCode, 200, result.body);
    assert.equal(bodyOf(result).outcome, 'approved');
    assert.deepEqual(bodyOf(result).run.decisions.map((d: { step: string; reviewerId: string }) => [d.step, d.reviewerId]), [['code-review', 'rita']]);
    assert.deepEqual(w.f.tokens.calls, [{ kind: 'succeed', token: 'token-code', output: { outcome: 'approved', step: 'code-review' } }]);
    assert.equal(w.f.audit.entries.at(-1)!.action, 'approved');
  });

  const refusals: [string, number, (run: { manifestDigest: string }) => EventOptions & { as?: string }, RegExp][] = [
    ['a researcher', 403, (r) => ({ as: 'alice', body: { verdict: 'approve', comment: '', manifestDigest: r.manifestDigest } }), /alice is not a reviewer/],
    ['a reviewer on their own run', 403, (r) => ({ as: 'bob', body: { verdict: 'approve', comment: '', manifestDigest: r.manifestDigest } }), /^A reviewer cannot review their own run$/],
    ['a stale digest', 409, () => ({ as: 'rita', body: { verdict: 'approve', comment: '', manifestDigest: 'a'.repeat(64) } }), /changed since they were shown/],
    ['a rejection without a comment', 400, (r) => ({ as: 'rita', body: { verdict: 'reject', comment: '  ', manifestDigest: r.manifestDigest } }), /needs a comment/],
    ['an unknown verdict', 400, (r) => ({ as: 'rita', body: { verdict: 'maybe', comment: '', manifestDigest: r.manifestDigest } }), /body\.verdict must be "approve" or "reject"/],
    ['a digest that is not one', 400, () => ({ as: 'rita', body: { verdict: 'approve', comment: '', manifestDigest: 'abc' } }), /body\.manifestDigest must be a SHA-256 hex digest/],
    ['no digest', 400, () => ({ as: 'rita', body: { verdict: 'approve', comment: '' } }), /body\.manifestDigest is required \(the digest of the manifest the page showed\)/],
    ['a digest that is not a string', 400, () => ({ as: 'rita', body: { verdict: 'approve', comment: '', manifestDigest: 7 } }), /body\.manifestDigest must be a string$/],
    ['no session', 401, (r) => ({ as: null as never, body: { verdict: 'approve', comment: '', manifestDigest: r.manifestDigest } }), /./],
  ];
  for (const [what, status, make, pattern] of refusals) {
    it(`refuses ${what} with ${status}, recording nothing and completing nothing`, async () => {
      // Prepare
      const w = await world();
      const run = await atCodeReview(w, what.includes('own run') ? 'bob' : 'alice');
      const audited = w.f.audit.entries.length;
      // Act
      const result = await call(w, 'decide-run', { pathParameters: { runId: run.id }, ...make(run) });
      // Assess
      assertError(result, status, pattern);
      assert.deepEqual(w.f.runs.peek(run.key).decisions, []);
      assert.equal(w.f.tokens.calls.length, 0);
      assert.equal(w.f.audit.entries.length, audited);
    });
  }

  it('refuses a run that is not waiting for review (409)', async () => {
    // Prepare
    const w = await world();
    const run = await submitAs(w);
    // Act
    const result = await call(w, 'decide-run', { as: 'rita', pathParameters: { runId: run.id }, body: { verdict: 'approve', comment: '', manifestDigest: run.manifestDigest } });
    // Assess
    assertError(result, 409, /is submitted, not waiting for review/);
  });
});

describe('GET /api/runs/{runId}/download', () => {
  it('serves the released outputs archive and single files, byte for byte what was approved, and audits it', async () => {
    // Prepare
    const w = await world();
    const run = await released(w);
    // Act
    const archive = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    const file = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token, path: 'table.csv' } });
    // Assess
    assert.equal(archive.statusCode, 200, archive.body);
    const bytes = Buffer.from(archive.body!, 'base64');
    assert.equal(archive.isBase64Encoded, true);
    assert.equal(archive.headers!['x-carrel-sha256'], sha(bytes));
    assert.equal(archive.headers!['content-type'], 'application/gzip');
    assert.equal((await manifestOfArchive(Readable.from([bytes]))).digest, run.outputsDigest);
    assert.equal(Buffer.from(file.body!, 'base64').toString(), 'group,count\nall,57\nrare,3\n');
    assert.match(String(file.headers!['content-disposition']), /filename="table\.csv"/);
    assert.deepEqual(w.f.audit.entries.filter((e) => e.action === 'downloaded').map((e) => [e.actor, e.comment]), [['alice', undefined], ['alice', 'table.csv']]);
  });

  it('refuses an expired link, another run’s link, a forged token, a non-member, a missing token', async () => {
    // Prepare
    const w = await world();
    const run = await released(w);
    w.app.clock.advance(1_000);
    const other = await submitAs(w);
    // Act
    const forged = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: `${run.token.slice(0, -4)}AAAA` } });
    const wrongRun = await call(w, 'download-run', { pathParameters: { runId: other.id }, query: { token: run.token } });
    const stranger = await call(w, 'download-run', { as: 'pat', pathParameters: { runId: run.id }, query: { token: run.token } });
    const noToken = await call(w, 'download-run', { pathParameters: { runId: run.id } });
    w.app.clock.advance(w.enclave.policy.releaseLinkTtlMs);
    const expired = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    // Assess
    assertError(forged, 403, /not valid/);
    assertError(wrongRun, 403, /another run/);
    assertError(stranger, 403, /not a researcher/);
    assertError(noToken, 400, /query\.token is required/);
    assertError(expired, 403, /expired/);
    assert.equal(w.f.audit.entries.filter((e) => e.action === 'downloaded').length, 0);
  });

  it('serves nothing when the stored outputs differ from the approved ones (409)', async () => {
    // Prepare: the outputs object is replaced after approval
    const w = await world();
    const run = await released(w);
    const outputsKey = w.f.runs.peek(run.key).objects.outputsKey!;
    await writeFile(join(w.outputs, 'table.csv'), 'group,count\nall,57\nrare,1\n');
    w.f.objects.objects.delete(outputsKey);
    await storeArchive(w.f.objects, w.outputs, { archiveKey: outputsKey, manifestKey: 'x.json' }, { exclude: [] });
    // Act
    const result = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    const file = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token, path: 'table.csv' } });
    // Assess
    assertError(result, 409, /not the ones reviewers approved .*; nothing was sent/);
    assert.equal(result.isBase64Encoded, undefined);
    assertError(file, 409, /table\.csv does not match the approved manifest; nothing was sent/);
    assert.equal(w.f.audit.entries.filter((e) => e.action === 'downloaded').length, 0);
  });

  it('serves one file of an outputs archive too large to serve whole; a file over the cap is a 409 that points to the whole archive', async () => {
    // Prepare: outputs of 64 KiB that do not compress, the desk serving 16 KiB
    const w = await world({ downloadMaxBytes: 16 * 1024 });
    await writeFile(join(w.outputs, 'big.bin'), randomBytes(64 * 1024));
    const run = await released(w);
    // Act
    const whole = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    const small = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token, path: 'table.csv' } });
    const big = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token, path: 'big.bin' } });
    // Assess
    assertError(whole, 409, /The outputs are larger than the 16 KiB the desk serves whole: download their files one by one/);
    assert.equal(small.statusCode, 200, small.body);
    assert.equal(Buffer.from(small.body!, 'base64').toString(), 'group,count\nall,57\nrare,3\n');
    assert.equal(small.headers!['x-carrel-sha256'], sha(Buffer.from('group,count\nall,57\nrare,3\n')));
    assertError(big, 409, /big\.bin is 64 KiB, more than the 16 KiB the desk serves for one file: download the whole outputs archive/);
    assert.deepEqual(w.f.audit.entries.filter((e) => e.action === 'downloaded').map((e) => e.comment), ['table.csv']);
  });

  it('refuses a run that is not released (409)', async () => {
    // Prepare
    const w = await world();
    const run = await atOutputReview(w);
    const token = new URL(await w.enclave.links.link(run.key, new Date(w.app.clock.now().getTime() + 60_000))).searchParams.get('token')!;
    // Act
    const result = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token } });
    // Assess
    assertError(result, 409, /only released outputs/);
  });
});

describe('GET /api/runs/{runId}/download with a store that links checked bytes (S3 on AWS)', () => {
  /** CheckedLinks over the versioned in-memory store: one metadata lookup of the pinned revision (HeadObject), never a read. */
  const withCheckedLinks = (w: World) => {
    const asked: { key: string; revision: string; size: number; expiresAt: Date }[] = [];
    Object.assign(w.enclave, {
      checkedLinks: {
        pinnedLink: async (key: string, pinned: { revision: string; size: number }, expiresAt: Date, fileName: string) => {
          asked.push({ key, ...pinned, expiresAt });
          const head = await w.f.objects.head(key, pinned.revision).catch(() => undefined);
          if (!head || head.size !== pinned.size) throw new IntegrityError(`The released version ${pinned.revision} of ${key} is gone from the store: nothing was linked`);
          return `https://objects.test/${key}?versionId=${pinned.revision}&name=${fileName}`;
        },
      },
    });
    return asked;
  };
  const pinnedBytes = (w: World, run: RunKey) => {
    const { outputsKey, outputsRevision } = w.f.runs.peek(run).objects;
    return w.f.objects.revisions.get(`${outputsKey}#${outputsRevision}`)!;
  };

  it('answers 303 to a short link to exactly the pinned archive version, with the sha256 recorded at release, reading none of it; one file still comes through the desk', async () => {
    // Prepare
    const w = await world({ versioned: true });
    const run = await released(w);
    const asked = withCheckedLinks(w);
    const { outputsKey, outputsRevision } = w.f.runs.peek(run.key).objects;
    w.f.objects.reads.length = 0;
    // Act
    const archive = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    const readsForLink = w.f.objects.reads.length;
    const file = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token, path: 'table.csv' } });
    // Assess
    assert.equal(archive.statusCode, 303, archive.body);
    assert.match(outputsRevision ?? '', /^v\d+$/);
    assert.equal(archive.headers!.location, `https://objects.test/${outputsKey}?versionId=${outputsRevision}&name=${run.key.runId}-outputs.tar.gz`);
    assert.equal(archive.headers!['x-carrel-sha256'], sha(pinnedBytes(w, run.key)));
    assert.equal(archive.headers!['cache-control'], 'no-store');
    assert.equal(readsForLink, 0, 'the link reads no object');
    assert.deepEqual(asked.map((a) => [a.revision, a.size]), [[outputsRevision, pinnedBytes(w, run.key).length]]);
    assert.equal(asked[0]!.expiresAt.getTime() - w.app.clock.now().getTime(), 5 * 60 * 1000);
    assert.equal(file.statusCode, 200);
    assert.equal(Buffer.from(file.body!, 'base64').toString(), 'group,count\nall,57\nrare,3\n');
    assert.deepEqual(w.f.audit.entries.filter((e) => e.action === 'downloaded').map((e) => [e.actor, e.comment]), [['alice', undefined], ['alice', 'table.csv']]);
  });

  it('a later version of the outputs key is never shown or linked: reviewers, the release and the download see the pinned one', async () => {
    // Prepare: after collect, something writes other outputs to the same keys (a new version of each)
    const w = await world({ versioned: true });
    const atReview = await atOutputReview(w);
    const { outputsKey, outputsManifestKey, outputsRevision } = w.f.runs.peek(atReview.key).objects;
    const reviewed = pinnedBytes(w, atReview.key);
    await writeFile(join(w.outputs, 'table.csv'), 'group,count\nall,57\nrare,1\n');
    w.f.objects.objects.delete(outputsKey!);
    w.f.objects.objects.delete(outputsManifestKey!);
    await storeArchive(w.f.objects, w.outputs, { archiveKey: outputsKey!, manifestKey: outputsManifestKey! }, { exclude: [] });
    // Act
    const view = await call(w, 'run-file', { as: 'rita', pathParameters: { runId: atReview.id, path: 'table.csv' }, query: { from: 'outputs' } });
    const detail = await call(w, 'get-run', { as: 'rita', pathParameters: { runId: atReview.id } });
    const approved = await call(w, 'decide-run', { as: 'rita', pathParameters: { runId: atReview.id }, body: { verdict: 'approve', comment: '', manifestDigest: atReview.outputsDigest } });
    await releaseRun(w.enclave, atReview.key);
    const asked = withCheckedLinks(w);
    const token = new URL(bodyOf(await call(w, 'list-runs', { pathParameters: { analysisId: 'demo' } })).runs[0].download.url).searchParams.get('token')!;
    const download = await call(w, 'download-run', { pathParameters: { runId: atReview.id }, query: { token } });
    // Assess
    assert.equal(view.statusCode, 200, view.body);
    assert.match(bodyOf(view).text, /rare,3/);
    assert.equal(bodyOf(detail).outputs.digest, atReview.outputsDigest);
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(w.f.runs.peek(atReview.key).state, 'released');
    assert.equal(download.statusCode, 303, download.body);
    assert.equal(download.headers!['x-carrel-sha256'], sha(reviewed));
    assert.deepEqual(asked.map((a) => a.revision), [outputsRevision]);
  });

  it('links nothing when the pinned version is gone (409), and checks the token first', async () => {
    // Prepare
    const w = await world({ versioned: true });
    const run = await released(w);
    const asked = withCheckedLinks(w);
    const { outputsKey, outputsRevision } = w.f.runs.peek(run.key).objects;
    w.f.objects.revisions.delete(`${outputsKey}#${outputsRevision}`);
    // Act
    const forged = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: `${run.token.slice(0, -4)}AAAA` } });
    const asked1 = asked.length;
    const gone = await call(w, 'download-run', { pathParameters: { runId: run.id }, query: { token: run.token } });
    // Assess
    assertError(forged, 403, /not valid/);
    assert.equal(asked1, 0, 'a forged token asks the store nothing');
    assertError(gone, 409, /is gone from the store: nothing was linked/);
    assert.equal(gone.headers?.location, undefined);
    assert.equal(w.f.audit.entries.filter((e) => e.action === 'downloaded').length, 0);
  });
});

describe('GET /api/outbox (local runtime only)', () => {
  it("shows the caller only the mail addressed to them, and refuses a caller without a session (401)", async () => {
    // Prepare
    const { makeOutboxHandler } = await import('../../local/enclave/outbox-route.js');
    const { OutboxNotifier } = await import('../../local/enclave/outbox-notifier.js');
    const w = await world();
    const outbox = new OutboxNotifier(join(w.homes, '..', 'outbox'), w.app.clock);
    const run = w.f.runs.peek((await submitAs(w)).key);
    await outbox.notify('review-needed', run, { to: ['rita'], message: 'waits for code-review' });
    await outbox.notify('released', run, { to: ['alice'], message: 'released', link: 'https://desk.test/x' });
    const handler = makeOutboxHandler(w.app, outbox);
    const as = async (user: string | null) =>
      (await handler(httpEvent('GET /api/outbox', { cookies: user ? [sessionCookie(await w.app.idp.session(user, { now: w.app.clock.now(), groups: ROLES[user] }))] : [] }))) as HttpResult;
    // Act
    const alice = await as('alice');
    const rita = await as('rita');
    const nobody = await as(null);
    // Assess
    assert.deepEqual(bodyOf(alice).messages.map((m: { notice: string; link?: string }) => [m.notice, m.link]), [['released', 'https://desk.test/x']]);
    assert.deepEqual(bodyOf(rita).messages.map((m: { notice: string }) => m.notice), ['review-needed']);
    assertError(nobody, 401);
  });
});
