/**
 * The enclave journey through the desk's HTTP API on the real local runtime, exactly as a browser uses it:
 * sign-in through the local identity provider, the route table served by the API stand-in, dynalite, the
 * synthesized state machine under aws-local-stepfunctions, bubblewrap with the demo's real dataset.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { manifestOfArchive } from '../../lambdas/adapters/archive.js';
import type { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { REAL_ROWS } from '../../local/enclave/demo-data.js';
import { ENCLAVE_SKIP } from '../support/enclave.js';
import { FakeLog } from '../support/fakes.js';
import { call, waitFor, type CookieJar } from '../support/http.js';
import { signIn, startTestRuntime, type TestRuntime } from '../support/local-runtime.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** GET raw bytes (the download is binary). */
function getBytes(t: TestRuntime, path: string, jar: CookieJar): Promise<{ status: number; headers: Record<string, unknown>; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.port, path, headers: { host: `${t.desk}:${t.port}`, cookie: jar.header() } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A reviewer who is also a researcher on the demo analysis (to show self-review is refused). */
async function addReviewerResearcher(t: TestRuntime, userId: string) {
  const catalog = t.runtime.deps.catalog as DynamoAnalysisCatalog;
  await catalog.putUser({ userId, name: userId, roles: ['researcher', 'reviewer'] });
  const demo = (await catalog.get('demo', { userId, name: userId, roles: [] }))!;
  await catalog.putAnalysis({ ...demo, members: [...new Set([...demo.members, userId])] });
}

async function runOf(t: TestRuntime, jar: CookieJar, id: string) {
  const reply = await call(t.port, t.desk, 'GET', `/api/runs/${id}`, { jar });
  assert.equal(reply.status, 200, reply.body);
  return reply.json();
}

async function waitForState(t: TestRuntime, jar: CookieJar, id: string, states: string[], timeoutMs = 60_000) {
  return waitFor(`run ${id} to be ${states.join('|')}`, async () => {
    const detail = await runOf(t, jar, id);
    if (detail.run.state === 'failed' && !states.includes('failed')) throw new Error(`run failed: ${JSON.stringify(detail.run.failure)}`);
    return states.includes(detail.run.state) ? detail : undefined;
  }, timeoutMs, 50);
}

async function submit(t: TestRuntime, jar: CookieJar, description: string) {
  const reply = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar, body: { description } });
  assert.equal(reply.status, 202, reply.body);
  return reply.json();
}

describe('enclave runs through the desk API (local runtime)', { skip: ENCLAVE_SKIP }, () => {
  let t: TestRuntime;
  let alice: CookieJar;
  let rita: CookieJar;
  let rob: CookieJar;
  let pat: CookieJar;

  before(async () => {
    t = await startTestRuntime({ CARREL_RELEASE_LINK_TTL_SECONDS: '6' });
    await addReviewerResearcher(t, 'rob');
    [alice, rita, rob, pat] = await Promise.all(['alice', 'rita', 'rob', 'pat'].map((u) => signIn(t, u)));
  });
  after(async () => {
    await t?.close();
  });

  it('accepts a submission without a home at once (202, archiving), which then fails with "open the analysis first" and alice is told; bad input changes nothing', async () => {
    // Act
    const noHome = await submit(t, alice, 'too early');
    const failed = await waitForState(t, alice, noHome.id, ['failed']);
    await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'alice' });
    const noDescription = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar: alice, body: {} });
    const extra = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar: alice, body: { description: 'x', shell: 'rm -rf /' } });
    const notMember = await call(t.port, t.desk, 'POST', '/api/analyses/census-2021/runs', { jar: alice, body: { description: 'x' } });
    const anonymous = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { body: { description: 'x' } });
    // Assess
    assert.deepEqual([noHome.state, noHome.manifestDigest], ['archiving', undefined]);
    assert.deepEqual(failed.run.failure, { kind: 'error', message: 'You have no home in "demo" yet: open the analysis first, then submit' });
    assert.equal(failed.manifest, undefined, 'nothing was archived');
    const mail = (await call(t.port, t.desk, 'GET', '/api/outbox', { jar: alice })).json().messages.filter((m: { runId: string }) => m.runId === noHome.runId);
    assert.deepEqual(mail.map((m: { notice: string; message: string }) => [m.notice, m.message]), [['failed', `Run ${noHome.runId} failed: You have no home in "demo" yet: open the analysis first, then submit`]]);
    assert.equal(noDescription.status, 400);
    assert.match(noDescription.json().error.message, /body\.description is required/);
    assert.equal(extra.status, 400);
    assert.match(extra.json().error.message, /unexpected field\(s\): shell/);
    assert.equal(notMember.status, 403);
    assert.equal(anonymous.status, 401);
    const list = await call(t.port, t.desk, 'GET', '/api/analyses/demo/runs', { jar: alice });
    assert.deepEqual(list.json().runs.map((r: { id: string; state: string }) => [r.id, r.state]), [[noHome.id, 'failed']], 'only the failed submission was recorded');
  });

  it('alice submits, rita approves the code, the run uses the real data, rita approves the outputs, alice downloads what rita saw, and the link expires', async () => {
    // Prepare
    await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'alice' });
    const timings: Record<string, number> = {};
    // Act: alice submits her home
    let start = Date.now();
    const submitted = await submit(t, alice, 'regions of the real data');
    const waiting = await waitForState(t, rita, submitted.id, ['code-review']);
    timings.submitToCodeReview = Date.now() - start;

    // Assess: the queue shows it to rita (not to alice), with its manifest and no baseline yet
    const queue = await call(t.port, t.desk, 'GET', '/api/review/queue', { jar: rita });
    assert.equal(queue.status, 200, queue.body);
    const queued = queue.json().runs.find((r: { id: string }) => r.id === submitted.id);
    assert.deepEqual([queued.step, queued.mayDecide, typeof queued.waitingSeconds], ['code-review', true, 'number']);
    assert.equal((await call(t.port, t.desk, 'GET', '/api/review/queue', { jar: alice })).status, 403);
    assert.deepEqual(waiting.manifest.files.map((f: { path: string }) => f.path), ['README.md', 'analysis.py', 'run.sh'], 'the synthetic data is left out');
    assert.deepEqual(waiting.diff, { baseline: null, added: ['README.md', 'analysis.py', 'run.sh'], removed: [], changed: [] });
    const script = await call(t.port, t.desk, 'GET', `/api/runs/${submitted.id}/files/analysis.py`, { jar: rita });
    assert.equal(script.json().kind, 'text');
    assert.match(script.json().text, /Counter/);
    assert.equal(script.json().sha256, waiting.manifest.files.find((f: { path: string }) => f.path === 'analysis.py').sha256);
    assert.equal((await call(t.port, t.desk, 'GET', `/api/runs/${submitted.id}`, { jar: pat })).status, 403, 'neither a reviewer nor the submitter');
    // rita's mail links straight to the run's page in the review console, which the desk serves
    const asked = (await call(t.port, t.desk, 'GET', '/api/outbox', { jar: rita })).json().messages.find((m: { notice: string; runId: string }) => m.notice === 'review-needed' && m.runId === submitted.runId);
    assert.equal(asked.link, `http://${t.desk}:${t.port}/review/demo/${submitted.runId}`);
    const page = await call(t.port, t.desk, 'GET', new URL(asked.link).pathname, { jar: rita });
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);

    // Act: refusals first, then rita approves the code she saw
    const staleDigest = await call(t.port, t.desk, 'POST', `/api/runs/${submitted.id}/decisions`, { jar: rita, body: { verdict: 'approve', comment: '', manifestDigest: '0'.repeat(64) } });
    const notReviewer = await call(t.port, t.desk, 'POST', `/api/runs/${submitted.id}/decisions`, { jar: alice, body: { verdict: 'approve', comment: '', manifestDigest: waiting.manifest.digest } });
    start = Date.now();
    const approved = await call(t.port, t.desk, 'POST', `/api/runs/${submitted.id}/decisions`, { jar: rita, body: { verdict: 'approve', comment: 'reads only counts', manifestDigest: waiting.manifest.digest } });
    const atOutputs = await waitForState(t, rita, submitted.id, ['output-review']);
    timings.approvalToOutputReview = Date.now() - start;

    // Assess: the run read the real dataset; the small count is flagged for rita
    assert.equal(staleDigest.status, 409);
    assert.match(staleDigest.json().error.message, /changed since they were shown/);
    assert.equal(notReviewer.status, 403);
    assert.equal(approved.status, 200, approved.body);
    assert.equal(approved.json().outcome, 'approved');
    const summary = await call(t.port, t.desk, 'GET', `/api/runs/${submitted.id}/files/summary.txt?from=outputs`, { jar: rita });
    assert.equal(summary.json().text, `${REAL_ROWS} people read from /data\n`);
    const table = atOutputs.outputs.files.find((f: { path: string }) => f.path === 'by_region.csv');
    assert.deepEqual(table.findings.map((f: { detail: string }) => f.detail), ['3 is below 10']);
    assert.equal(atOutputs.smallCountThreshold, 10);

    // Act: rita approves the outputs; alice finds the link on her runs page
    start = Date.now();
    const released = await call(t.port, t.desk, 'POST', `/api/runs/${submitted.id}/decisions`, { jar: rita, body: { verdict: 'approve', comment: 'ok', manifestDigest: atOutputs.outputs.digest } });
    assert.equal(released.status, 200, released.body);
    const mine = await waitFor('the release', async () => {
      const runs = (await call(t.port, t.desk, 'GET', '/api/analyses/demo/runs', { jar: alice })).json().runs;
      return runs.find((r: { id: string; state: string }) => r.id === submitted.id && r.state === 'released');
    }, 30_000, 50);
    timings.approvalToReleased = Date.now() - start;
    const url = new URL(mine.download.url);
    const archive = await getBytes(t, `${url.pathname}${url.search}`, alice);
    const file = await getBytes(t, `${url.pathname}${url.search}&path=by_region.csv`, alice);
    const stranger = await getBytes(t, `${url.pathname}${url.search}`, pat);

    // Assess: the bytes are what rita approved (sha256), the decisions are on the run, the mail was sent
    assert.equal(archive.status, 200);
    assert.equal(archive.headers['x-carrel-sha256'], sha(archive.bytes));
    assert.equal((await manifestOfArchive(Readable.from([archive.bytes]))).digest, atOutputs.outputs.digest);
    assert.equal(file.status, 200);
    assert.equal(sha(file.bytes), table.sha256);
    assert.equal(stranger.status, 403, 'pat is not a member of the analysis');
    assert.deepEqual(mine.decisions.map((d: { step: string; reviewerId: string; comment: string }) => [d.step, d.reviewerId, d.comment]), [
      ['code-review', 'rita', 'reads only counts'],
      ['output-review', 'rita', 'ok'],
    ]);
    const outbox = (await call(t.port, t.desk, 'GET', '/api/outbox', { jar: alice })).json().messages;
    const mailed = new URL(outbox.find((m: { notice: string; runId: string }) => m.notice === 'released' && m.runId === submitted.runId).link);
    assert.equal(mailed.pathname, url.pathname, 'the email links to the same download');
    const audit = (await runOf(t, alice, submitted.id)).audit.map((e: { action: string; actor: string }) => `${e.action}:${e.actor}`);
    assert.ok(audit.includes('downloaded:alice'), audit.join());

    // Act / Assess: the link expires
    await new Promise((r) => setTimeout(r, Date.parse(mine.download.expiresAt) - Date.now() + 1000));
    const expired = await getBytes(t, `${url.pathname}${url.search}`, alice);
    assert.equal(expired.status, 403);
    assert.match(JSON.parse(expired.bytes.toString()).error.message, /expired/);
    console.log(`# enclave API timings (ms): ${JSON.stringify(timings)}`);
  });

  it('a rejected run ends rejected with the comment; the next submission is diffed against the last approved one', async () => {
    // Prepare
    await writeFile(join(t.runtime.homes.pathOf({ analysisId: 'demo', userId: 'alice' }), 'analysis.py'), 'print(open("/data/people.csv").read())\n');
    const run = await submit(t, alice, 'dump everything');
    const waiting = await waitForState(t, rita, run.id, ['code-review']);
    // Act
    const noComment = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rita, body: { verdict: 'reject', comment: ' ', manifestDigest: waiting.manifest.digest } });
    const rejected = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rita, body: { verdict: 'reject', comment: 'do not print rows', manifestDigest: waiting.manifest.digest } });
    const done = await waitForState(t, alice, run.id, ['rejected']);
    const diff = await call(t.port, t.desk, 'GET', `/api/runs/${run.id}/files/analysis.py?diff=true`, { jar: rita });
    // Assess
    assert.equal(noComment.status, 400);
    assert.equal(rejected.json().outcome, 'rejected');
    assert.deepEqual(done.run.decisions.map((d: { verdict: string; comment: string }) => [d.verdict, d.comment]), [['reject', 'do not print rows']]);
    assert.deepEqual(waiting.diff.changed, ['analysis.py']);
    assert.ok(waiting.diff.baseline, 'the baseline is the approved run');
    assert.match(diff.json().diff.unified, /\+print\(open\("\/data\/people.csv"\)\.read\(\)\)/);
    const mail = (await call(t.port, t.desk, 'GET', '/api/outbox', { jar: alice })).json().messages.at(-1);
    assert.deepEqual([mail.notice, mail.runId], ['rejected', run.runId]);
    assert.equal((await call(t.port, t.desk, 'GET', '/api/outbox', { jar: rita })).json().messages.every((m: { to: string[] }) => m.to.includes('rita')), true);
  });

  it('a reviewer cannot review their own run (403 with a message), another reviewer can', async () => {
    // Prepare
    await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'rob' });
    const run = await submit(t, rob, "rob's own");
    const waiting = await waitForState(t, rob, run.id, ['code-review']);
    // Act
    const queue = (await call(t.port, t.desk, 'GET', '/api/review/queue?step=code-review', { jar: rob })).json().runs.find((r: { id: string }) => r.id === run.id);
    const own = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rob, body: { verdict: 'approve', comment: '', manifestDigest: waiting.manifest.digest } });
    const other = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rita, body: { verdict: 'reject', comment: 'not today', manifestDigest: waiting.manifest.digest } });
    // Assess
    assert.deepEqual([queue.mayDecide, queue.why], [false, 'A reviewer cannot review their own run']);
    assert.equal(own.status, 403);
    assert.equal(own.json().error.message, 'A reviewer cannot review their own run');
    assert.equal(other.status, 200);
    await waitForState(t, rob, run.id, ['rejected']);
  });
});

describe('enclave runs through the desk API, two approvals', { skip: ENCLAVE_SKIP }, () => {
  let t: TestRuntime;
  const log = new FakeLog();
  before(async () => {
    t = await startTestRuntime({ CARREL_REQUIRED_APPROVALS: '2' }, undefined, log);
    await addReviewerResearcher(t, 'rob');
  });
  after(async () => {
    await t?.close();
  });

  it('warns at start that the local users hold fewer reviewers than approvals needed', () => {
    // Assess: rita is the only seeded reviewer (rob is added once the runtime runs)
    const [warning] = log.find('fewer reviewers than approvals needed', 'warn');
    assert.deepEqual(warning?.data, { requiredApprovals: 2, reviewers: ['rita'] });
  });

  it('needs two different reviewers at code review: the first approval is pending, the same reviewer twice is refused', async () => {
    // Prepare
    const [alice, rita, rob] = await Promise.all(['alice', 'rita', 'rob'].map((u) => signIn(t, u)));
    await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'alice' });
    const run = await submit(t, alice, 'two eyes');
    const waiting = await waitForState(t, rita, run.id, ['code-review']);
    const body = { verdict: 'approve', comment: '', manifestDigest: waiting.manifest.digest };
    // Act
    const first = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rita, body });
    const again = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rita, body });
    const still = await runOf(t, rita, run.id);
    const second = await call(t.port, t.desk, 'POST', `/api/runs/${run.id}/decisions`, { jar: rob, body });
    // Assess
    assert.equal(first.json().outcome, 'pending');
    assert.equal(again.status, 409);
    assert.deepEqual([still.run.state, still.requiredApprovals, still.mayDecide], ['code-review', 2, false]);
    assert.equal(second.json().outcome, 'approved');
    await waitForState(t, alice, run.id, ['output-review']);
  });
});

describe('enclave runs through the desk API, a restart', { skip: ENCLAVE_SKIP }, () => {
  it('a run left waiting for review when the local runtime stops is failed at the next start, and alice is told', async () => {
    // Prepare
    const dataDir = await mkdtemp(join(tmpdir(), 'carrel-restart-'));
    try {
      let t = await startTestRuntime({}, dataDir);
      let run: { id: string; runId: string };
      try {
        const [alice, rita] = await Promise.all([signIn(t, 'alice'), signIn(t, 'rita')]);
        await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'alice' });
        run = await submit(t, alice, 'interrupted');
        await waitForState(t, rita, run.id, ['code-review']);
      } finally {
        await t.close();
      }
      // Act
      t = await startTestRuntime({}, dataDir);
      try {
        const alice = await signIn(t, 'alice');
        const detail = await runOf(t, alice, run.id);
        const mail = (await call(t.port, t.desk, 'GET', '/api/outbox', { jar: alice })).json().messages.at(-1);
        // Assess
        assert.deepEqual([detail.run.state, detail.run.failure.kind], ['failed', 'error']);
        assert.match(detail.run.failure.message, /restarted while the run was waiting for code review; nothing was released/);
        assert.deepEqual([mail.notice, mail.runId], ['failed', run.runId]);
      } finally {
        await t.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
