/**
 * The local enclave under a stricter policy: two approvals from different reviewers at each step, and a
 * code review that times out after two seconds (the task's TimeoutSeconds, from the same policy), and runs
 * stopped after two seconds in the sandbox.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConflictError } from '../../lambdas/core/errors.js';
import { decide, DEFAULT_RUN_POLICY } from '../../lambdas/core/runs/index.js';
import type { LocalEnclave } from '../../local/enclave/enclave.js';
import { users } from '../support/fakes.js';
import { ENCLAVE_SKIP, startTestEnclave, waitForRunState, type TestEnclave } from '../support/enclave.js';

const rob = { userId: 'rob', roles: ['reviewer'] };
let t: TestEnclave;
let root: string;
let enclave: LocalEnclave;

/** alice's home (`<root>/homes/demo/alice`), as the archive step finds it. */
async function home(script = 'wc -l < /data/people.csv > /outputs/rows.txt\n'): Promise<void> {
  const dir = join(root, 'homes', 'demo', 'alice');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run.sh'), script);
}

before(async () => {
  t = await startTestEnclave('enclave-policy', 'id\n1\n2\n3\n', {
    reviewers: ['rita', 'rob'],
    runTimeoutMs: 2_000,
    policy: { ...DEFAULT_RUN_POLICY, requiredApprovals: 2, deadlines: { ...DEFAULT_RUN_POLICY.deadlines, 'code-review': 2_000 } },
  });
  ({ enclave, root } = t);
});

after(async () => t?.close());

describe('local enclave, two approvals and review timeouts', { skip: ENCLAVE_SKIP }, () => {
  it('one approval is not enough; a second from another reviewer moves the run on, at both steps', async () => {
    // Prepare
    await home();
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'two approvals' });
    const waiting = await waitForRunState(enclave, run, ['code-review']);
    const code = { step: 'code-review' as const, verdict: 'approve' as const, comment: '', manifestDigest: waiting.manifestDigest! };

    // Act: rita approves, twice
    await decide(enclave.deps, users.rita, run, code);
    await assert.rejects(decide(enclave.deps, users.rita, run, code), ConflictError);
    await new Promise((r) => setTimeout(r, 300));
    // Assess: still waiting
    assert.equal((await enclave.deps.runs.get(run))?.state, 'code-review');
    assert.equal(enclave.tokens.pending, 1);

    // Act: rob approves; then both approve the outputs
    await decide(enclave.deps, rob, run, code);
    const outputs = await waitForRunState(enclave, run, ['output-review', 'failed']);
    assert.equal(outputs.state, 'output-review', JSON.stringify(outputs.failure));
    const out = { step: 'output-review' as const, verdict: 'approve' as const, comment: '', manifestDigest: outputs.outputsDigest! };
    await decide(enclave.deps, rob, run, out);
    assert.equal((await enclave.deps.runs.get(run))?.state, 'output-review');
    await decide(enclave.deps, users.rita, run, out);
    const result = await enclave.runner.settled(run.executionId!);

    // Assess
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal((await enclave.deps.runs.get(run))?.state, 'released');
  });

  it('a code review nobody decides times out: failed (timed-out), alice is told, a late decision is refused', async () => {
    // Prepare
    await home();
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'nobody looks' });
    const waiting = await waitForRunState(enclave, run, ['code-review']);
    // Act
    const result = await enclave.runner.settled(run.executionId!);
    // Assess
    assert.equal(result.status, 'FAILED');
    const failed = await enclave.deps.runs.get(run);
    assert.deepEqual(failed?.failure, { kind: 'timed-out', message: 'The run timed out while waiting for code review' });
    const mail = (await enclave.notifier.list()).filter((m) => m.runId === run.runId).at(-1)!;
    assert.deepEqual([mail.notice, mail.to], ['failed', ['alice']]);
    await assert.rejects(
      decide(enclave.deps, users.rita, run, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: waiting.manifestDigest! }),
      ConflictError,
    );
  });

  it('a run that takes longer than the sandbox allows is stopped: failed (timed-out, not an exit code), alice is told', async () => {
    // Prepare
    await home('sleep 30\n');
    const run = await enclave.submit({ analysisId: 'demo', userId: 'alice', description: 'too slow' });
    const waiting = await waitForRunState(enclave, run, ['code-review']);
    const code = { step: 'code-review' as const, verdict: 'approve' as const, comment: '', manifestDigest: waiting.manifestDigest! };
    // Act
    await decide(enclave.deps, users.rita, run, code);
    await decide(enclave.deps, rob, run, code);
    const result = await enclave.runner.settled(run.executionId!);
    // Assess
    assert.equal(result.status, 'FAILED');
    const failed = await enclave.deps.runs.get(run);
    assert.deepEqual(failed?.failure, { kind: 'timed-out', message: 'The run timed out while running' });
    const mail = (await enclave.notifier.list()).filter((m) => m.runId === run.runId).at(-1)!;
    assert.deepEqual([mail.notice, mail.to, mail.message], ['failed', ['alice'], `Run ${run.runId} failed: The run timed out while running`]);
  });
});
