/**
 * The enclave in local mode, end to end: the state machine synthesized from the one CDK construct runs
 * under aws-local-stepfunctions with local task handlers; runs live in dynalite through the production
 * DynamoDB adapter; the run executes under bubblewrap with the real dataset read-only and no network.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_EXCLUDES, extractVerified, readAll, writeArchive } from '../../lambdas/adapters/archive.js';
import { MountedHomeSnapshots } from '../../lambdas/adapters/mounted-home-snapshots.js';
import { NotAllowedError } from '../../lambdas/core/errors.js';
import { decide, parseManifest } from '../../lambdas/core/runs/index.js';
import type { LocalEnclave } from '../../local/enclave/enclave.js';
import { users } from '../support/fakes.js';
import { ENCLAVE_SKIP, startTestEnclave, waitForRunState, type TestEnclave } from '../support/enclave.js';
import { createWriteStream } from 'node:fs';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let t: TestEnclave;
let root: string;
let enclave: LocalEnclave;
/** Set by the tamper test: the next archive is replaced after it is stored (as if the object changed before VerifyArchive). */
let tamperNext = false;

const REAL_ROWS = 57;
const SCRIPT = `set -e
python3 - <<'PY'
import csv, socket
rows = list(csv.DictReader(open('/data/people.csv')))
try:
    socket.create_connection(('1.1.1.1', 80), timeout=2)
    net = 'reached'
except OSError:
    net = 'blocked'
try:
    open('/data/written-by-run', 'w')
    data = 'writable'
except OSError:
    data = 'read-only'
with open('/outputs/summary.csv', 'w') as f:
    f.write('group,count\\nall,%d\\nrare,3\\n' % len(rows))
with open('/outputs/checks.txt', 'w') as f:
    f.write('network=%s data=%s\\n' % (net, data))
PY
`;

/** alice's home (`<root>/homes/demo/alice`, where the archive step finds it), made afresh. */
async function home(script: string | null = SCRIPT): Promise<string> {
  const dir = join(root, 'homes', 'demo', 'alice');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'data', 'synthetic'), { recursive: true });
  if (script !== null) await writeFile(join(dir, 'run.sh'), script);
  await writeFile(join(dir, 'data', 'synthetic', 'people.csv'), 'id,age\n1,30\n2,40\n');
  await mkdir(join(dir, '.git'), { recursive: true });
  await writeFile(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return dir;
}


before(async () => {
  t = await startTestEnclave('enclave', ['id,age', ...Array.from({ length: REAL_ROWS }, (_, i) => `${i},${20 + (i % 50)}`)].join('\n') + '\n', {
    runTimeoutMs: 60_000,
    snapshots: {
      async snapshot(who, keys) {
        const manifest = await new MountedHomeSnapshots(join(root, 'homes'), enclave.objects, DEFAULT_EXCLUDES).snapshot(who, keys);
        if (tamperNext) {
          tamperNext = false;
          const dir = await mkdtemp(join(root, 'evil-'));
          await writeFile(join(dir, 'run.sh'), 'curl http://evil.example\n');
          await writeArchive(dir, createWriteStream(enclave.objects.pathOf(keys.archiveKey)));
        }
        return manifest;
      },
    },
  });
  ({ enclave, root } = t);
});

after(async () => t?.close());

describe('local enclave, the synthesized state machine', { skip: ENCLAVE_SKIP }, () => {
  it('submit → code review → approve → build, run (real data, no network) → collect → checks → output review → approve → released', async () => {
    // Prepare
    await home();
    const timings: Record<string, number> = {};
    let t = Date.now();

    // Act: alice submits; the run is recorded at once and archived by the state machine's first step
    const submitted = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'count people' });
    assert.deepEqual([submitted.state, submitted.manifestDigest], ['archiving', undefined]);
    const atCodeReview = await waitForRunState(enclave, submitted, ['code-review']);
    timings.submitToCodeReview = Date.now() - t;

    // Assess: the submission left out .git and the synthetic data; its digest is recorded
    const manifest = parseManifest(JSON.parse((await readAll(await enclave.objects.get(submitted.objects.manifestKey))).toString()));
    assert.deepEqual(manifest.files.map((f) => f.path), ['run.sh']);
    assert.equal(atCodeReview.manifestDigest, manifest.digest);

    // Act: alice cannot approve her own run; rita approves the code she saw
    await assert.rejects(decide(enclave.deps, { userId: 'alice', roles: ['reviewer'] }, submitted, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: manifest.digest }), NotAllowedError);
    t = Date.now();
    await decide(enclave.deps, users.rita, submitted, { step: 'code-review', verdict: 'approve', comment: 'fine', manifestDigest: manifest.digest });
    const atOutputReview = await waitForRunState(enclave, submitted, ['output-review', 'failed']);
    timings.approvalToOutputReview = Date.now() - t;

    // Assess: the run used the real dataset, had no network, could not write the data; small count flagged
    assert.equal(atOutputReview.state, 'output-review', JSON.stringify(atOutputReview.failure));
    assert.deepEqual(atOutputReview.findings, [{ path: 'summary.csv', where: 'row 3, column 2 (count)', rule: 'small-count', detail: '3 is below 10' }]);

    // Act: rita looks at the outputs (extracting the stored archive against its manifest) and approves them
    const outputsManifest = parseManifest(JSON.parse((await readAll(await enclave.objects.get(atOutputReview.objects.outputsManifestKey!))).toString()));
    assert.equal(outputsManifest.digest, atOutputReview.outputsDigest);
    const seenByRita = join(root, 'rita-saw');
    await extractVerified(await enclave.objects.get(atOutputReview.objects.outputsKey!), seenByRita, outputsManifest);
    assert.equal(await readFile(join(seenByRita, 'summary.csv'), 'utf8'), `group,count\nall,${REAL_ROWS}\nrare,3\n`);
    assert.equal(await readFile(join(seenByRita, 'checks.txt'), 'utf8'), 'network=blocked data=read-only\n');
    t = Date.now();
    await decide(enclave.deps, users.rita, submitted, { step: 'output-review', verdict: 'approve', comment: 'ok to release', manifestDigest: outputsManifest.digest });
    const result = await enclave.runner.settled(submitted.executionId!);
    timings.approvalToReleased = Date.now() - t;

    // Assess: released, alice got a link whose bytes are what rita saw, and it expires
    assert.equal(result.status, 'SUCCEEDED');
    const released = await enclave.deps.runs.get(submitted);
    assert.equal(released?.state, 'released');
    const mails = await enclave.notifier.list();
    assert.deepEqual(mails.map((m) => [m.notice, m.to.join(',')]), [['review-needed', 'rita'], ['review-needed', 'rita'], ['released', 'alice']]);
    const reviewPage = `http://app.localhost:8080/review/demo/${submitted.runId}`;
    assert.deepEqual(mails.slice(0, 2).map((m) => m.link), [reviewPage, reviewPage], "rita's mails open the run's review page");
    const link = mails.at(-1)!.link!;
    const token = new URL(link).searchParams.get('token')!;
    assert.equal(new URL(link).pathname, `/api/runs/demo.${submitted.runId}/download`);
    assert.deepEqual(await enclave.deps.links.verify(token, new Date()), { analysisId: 'demo', runId: submitted.runId });
    const downloaded = join(root, 'alice-got');
    await extractVerified(await enclave.objects.get(released!.objects.outputsKey!), downloaded, outputsManifest);
    assert.equal(sha(await readFile(join(downloaded, 'summary.csv'))), outputsManifest.files.find((f) => f.path === 'summary.csv')!.sha256);
    await assert.rejects(enclave.deps.links.verify(token, new Date(Date.parse(released!.releaseExpiresAt!) + 1000)), NotAllowedError, 'the link expires');
    const again = await enclave.deps.collector.collect(released!);
    assert.equal(again.manifest.digest, outputsManifest.digest, 'a retried collect finds the stored outputs and accepts them');
    assert.equal(existsSync(join(root, 'work', submitted.runId, 'code')), false, 'clean-up removed the build once the run stopped');
    assert.equal(existsSync(join(root, 'work', submitted.runId, 'outputs')), true, 'the outputs stay for collect');
    const actions = (await enclave.deps.audit.list(submitted)).map((e) => `${e.action}:${e.actor}`);
    assert.deepEqual(actions, ['submitted:alice', 'archived:system', 'review-requested:system', 'approved:rita', 'review-requested:system', 'approved:rita', 'released:system']);
    console.log(`# enclave local timings (ms): ${JSON.stringify(timings)}`);
  });

  it('a rejected submission ends rejected, and alice is told why', async () => {
    // Prepare
    await home();
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'second try' });
    const waiting = await waitForRunState(enclave, run, ['code-review']);
    // Act
    await decide(enclave.deps, users.rita, run, { step: 'code-review', verdict: 'reject', comment: 'do not dump rows', manifestDigest: waiting.manifestDigest! });
    const result = await enclave.runner.settled(run.executionId!);
    // Assess
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal((await enclave.deps.runs.get(run))?.state, 'rejected');
    const mail = (await enclave.notifier.list()).filter((m) => m.runId === run.runId).at(-1)!;
    assert.deepEqual([mail.notice, mail.to], ['rejected', ['alice']]);
    assert.match(mail.message, /rita: do not dump rows/);
    assert.equal(existsSync(join(root, 'work', run.runId)), false, 'nothing was built or run');
  });

  it('a crashing run fails, with its exit code, and alice is told', async () => {
    // Prepare
    await home('echo boom >&2; exit 3\n');
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'crash' });
    const waiting = await waitForRunState(enclave, run, ['code-review']);
    // Act
    await decide(enclave.deps, users.rita, run, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: waiting.manifestDigest! });
    const result = await enclave.runner.settled(run.executionId!);
    // Assess
    assert.equal(result.status, 'FAILED');
    const failed = await enclave.deps.runs.get(run);
    assert.deepEqual([failed?.state, failed?.failure?.kind], ['failed', 'error']);
    assert.match(failed!.failure!.message, /exited with code 3/);
    const mail = (await enclave.notifier.list()).filter((m) => m.runId === run.runId).at(-1)!;
    assert.deepEqual([mail.notice, mail.to], ['failed', ['alice']]);
    assert.equal(await readFile(join(root, 'work', run.runId, 'run.log'), 'utf8'), 'boom\n');
    assert.equal(existsSync(join(root, 'work', run.runId, 'code')), false, 'clean-up ran on the failure path too');
  });

  it('a tampered archive is refused before review: failed (integrity), alice is told', async () => {
    // Prepare: the archive stored by ArchiveHome is replaced by another home's archive before VerifyArchive reads it
    await home();
    tamperNext = true;
    // Act
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'tampered' });
    const result = await enclave.runner.settled(run.executionId!);
    // Assess
    assert.equal(result.status, 'FAILED');
    const failed = await enclave.deps.runs.get(run);
    assert.equal(failed?.failure?.kind, 'integrity');
    assert.match(failed!.failure!.message, /changed: run\.sh/);
    assert.equal(failed?.manifestDigest, undefined, 'no digest was recorded');
    assert.equal(enclave.tokens.pending, 0, 'no review was requested');
    assert.equal((await enclave.notifier.list()).filter((m) => m.runId === run.runId).map((m) => m.notice).join(), 'failed');
  });

  for (const [what, prepare, userId, message] of [
    ['no home yet', async () => undefined, 'bob', 'You have no home in "demo" yet: open the analysis first, then submit'],
    ['an empty home (everything excluded)', () => home(null), 'alice', 'Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)'],
  ] as const) {
    it(`${what}: the run fails while archiving with a message for the researcher, who is told; nothing is reviewed`, async () => {
      // Prepare
      await prepare();
      // Act
      const run = await enclave.submit({ analysisId: 'demo', userId, description: what });
      const result = await enclave.runner.settled(run.executionId!);
      // Assess
      assert.equal(result.status, 'FAILED');
      const failed = await enclave.deps.runs.get(run);
      assert.deepEqual([failed?.state, failed?.failure], ['failed', { kind: 'error', message }]);
      const mail = (await enclave.notifier.list()).filter((m) => m.runId === run.runId);
      assert.deepEqual(mail.map((m) => [m.notice, m.to, m.message]), [['failed', [userId], `Run ${run.runId} failed: ${message}`]]);
      assert.deepEqual((await enclave.deps.audit.list(run)).map((e) => e.action), ['submitted', 'failed']);
      assert.equal(enclave.tokens.pending, 0, 'no review was requested');
    });
  }
});
