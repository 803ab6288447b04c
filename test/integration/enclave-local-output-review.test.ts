/**
 * The local enclave's output review, end to end through the synthesized state machine: outputs a reviewer
 * rejects are withheld (nothing is released, the researcher is told why), and outputs nobody reviews in time
 * end the run as timed out (the task's TimeoutSeconds, from the policy's `output-review` deadline).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConflictError } from '../../lambdas/core/errors.js';
import { decide, DEFAULT_RUN_POLICY, type Run } from '../../lambdas/core/runs/index.js';
import type { LocalEnclave } from '../../local/enclave/enclave.js';
import { users } from '../support/fakes.js';
import { ENCLAVE_SKIP, startTestEnclave, waitForRunState, type TestEnclave } from '../support/enclave.js';

/** Long enough for a reviewer who decides at once on a loaded machine; short enough to wait out in a test. */
const OUTPUT_REVIEW_MS = 4_000;

let t: TestEnclave;
let enclave: LocalEnclave;

before(async () => {
  t = await startTestEnclave('enclave-output-review', 'id,region\n1,north\n2,north\n3,south\n', {
    policy: { ...DEFAULT_RUN_POLICY, deadlines: { ...DEFAULT_RUN_POLICY.deadlines, 'output-review': OUTPUT_REVIEW_MS } },
  });
  enclave = t.enclave;
  const home = join(t.root, 'homes', 'demo', 'alice');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'run.sh'), 'cut -d, -f2 /data/people.csv | tail -n +2 | sort | uniq -c > /outputs/regions.txt\n');
});

after(async () => t?.close());

/** Submit alice's home, have rita approve the code, and wait until the outputs wait for review. */
async function toOutputReview(description: string): Promise<Run> {
  const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description });
  const waiting = await waitForRunState(enclave, run, ['code-review', 'failed']);
  assert.equal(waiting.state, 'code-review', JSON.stringify(waiting.failure));
  await decide(enclave.deps, users.rita, run, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: waiting.manifestDigest! });
  const outputs = await waitForRunState(enclave, run, ['output-review', 'failed']);
  assert.equal(outputs.state, 'output-review', JSON.stringify(outputs.failure));
  return outputs;
}

async function mailsFor(run: Run) {
  return (await enclave.notifier.list()).filter((m) => m.runId === run.runId);
}

describe('local enclave: output review end to end', { skip: ENCLAVE_SKIP, timeout: 120_000 }, () => {
  it('outputs a reviewer rejects are withheld: nothing is released, and alice is told why', async () => {
    // Prepare
    const outputs = await toOutputReview('regions');

    // Act
    await decide(enclave.deps, users.rita, outputs, { step: 'output-review', verdict: 'reject', comment: 'counts of 1 identify people', manifestDigest: outputs.outputsDigest! });
    const result = await enclave.runner.settled(outputs.executionId!);

    // Assess
    assert.equal(result.status, 'SUCCEEDED');
    const withheld = (await enclave.deps.runs.get(outputs))!;
    assert.equal(withheld.state, 'withheld');
    assert.equal(withheld.releaseExpiresAt, undefined, 'no release link was made');
    const mails = await mailsFor(outputs);
    assert.equal(mails.some((m) => m.notice === 'released'), false);
    // The only links mailed are the reviewers' review pages: no download link.
    assert.deepEqual(mails.filter((m) => m.link).map((m) => [m.notice, new URL(m.link!).pathname]), [
      ['review-needed', `/review/demo/${outputs.runId}`],
      ['review-needed', `/review/demo/${outputs.runId}`],
    ]);
    const last = mails.at(-1)!;
    assert.deepEqual([last.notice, last.to], ['withheld', ['alice']]);
    assert.match(last.message, /withheld at output review: rita: counts of 1 identify people/);
    const actions = (await enclave.deps.audit.list(outputs)).map((e) => `${e.action}:${e.actor}`);
    assert.deepEqual(actions.slice(-2), ['rejected:rita', 'withheld:system']);
  });

  it('outputs nobody reviews in time: failed (timed-out), alice is told, a late approval is refused', async () => {
    // Prepare
    const outputs = await toOutputReview('nobody looks at the outputs');

    // Act: wait the deadline out
    const result = await enclave.runner.settled(outputs.executionId!);

    // Assess
    assert.equal(result.status, 'FAILED');
    const failed = (await enclave.deps.runs.get(outputs))!;
    assert.deepEqual(failed.failure, { kind: 'timed-out', message: 'The run timed out while waiting for output review' });
    const last = (await mailsFor(outputs)).at(-1)!;
    assert.deepEqual([last.notice, last.to], ['failed', ['alice']]);
    await assert.rejects(
      decide(enclave.deps, users.rita, outputs, { step: 'output-review', verdict: 'approve', comment: '', manifestDigest: outputs.outputsDigest! }),
      ConflictError,
    );
    assert.equal((await enclave.deps.runs.get(outputs))!.state, 'failed');
  });
});
