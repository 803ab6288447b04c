import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, NotAllowedError, TransientError, ValidationError } from '../../../../lambdas/core/errors.js';
import {
  advanceRun,
  archiveHome,
  buildManifest,
  checkDisclosure,
  cleanUpRun,
  collectOutputs,
  decide,
  DEFAULT_RUN_POLICY,
  failureOf,
  finishRun,
  IntegrityError,
  prepareRun,
  releaseRun,
  requestReview,
  RunExitError,
  runObjectKeys,
  runStep,
  SubmissionRefusedError,
  submitRun,
  verifyArchive,
} from '../../../../lambdas/core/runs/index.js';
import { users } from '../../../support/fakes.js';
import { file, KEY, makeRunDeps, submitted, type FakeRunDeps } from '../../../support/run-fakes.js';

const rob = { userId: 'rob', roles: ['reviewer'] };

async function atCodeReview(f: FakeRunDeps) {
  const run = await submitted(f);
  await requestReview(f, KEY, 'code-review', 'token-code');
  return run;
}

async function atOutputReview(f: FakeRunDeps) {
  const run = await atCodeReview(f);
  await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! });
  await advanceRun(f, KEY, 'building');
  await advanceRun(f, KEY, 'running');
  await collectOutputs(f, KEY, 0);
  await checkDisclosure(f, KEY);
  return requestReview(f, KEY, 'output-review', 'token-output');
}

const HOME = [file('analysis.py', 'print(1)\n'), file('README.md', '# demo\n'), file('run.sh', 'python3 analysis.py\n')];

describe('submit', () => {
  it('records the run as archiving (its keys known, no manifest yet), audits it and starts the state machine with the submitter', async () => {
    // Prepare
    const f = makeRunDeps();
    // Act
    const run = await submitRun(f, { ...KEY, submittedBy: 'alice', description: ' first model ', objects: runObjectKeys(KEY) });
    // Assess
    assert.equal(run.state, 'archiving');
    assert.equal(run.manifestDigest, undefined);
    assert.equal(run.description, 'first model');
    assert.equal(run.executionId, 'exec-run-1');
    assert.deepEqual(run.objects, { archiveKey: 'runs/demo/run-1/home.tar.gz', manifestKey: 'runs/demo/run-1/manifest.json' });
    assert.equal(run.deadlineAt, new Date(f.clock.now().getTime() + DEFAULT_RUN_POLICY.deadlines.archiving).toISOString());
    assert.deepEqual(f.executions.started, [{ ...KEY, submittedBy: 'alice' }]);
    assert.deepEqual(f.audit.entries.map((e) => [e.action, e.actor, e.manifestDigest]), [['submitted', 'alice', undefined]]);
    assert.equal(f.snapshots.calls.length, 0, 'nothing is archived by the submit itself');
  });

  it('refuses a second submission with the same id and an empty description', async () => {
    // Prepare
    const f = makeRunDeps();
    await submitted(f);
    // Act / Assess
    await assert.rejects(submitted(f), ConflictError);
    const g = makeRunDeps();
    await assert.rejects(submitRun(g, { ...KEY, submittedBy: 'alice', description: '  ', objects: runObjectKeys(KEY) }), ValidationError);
    assert.equal(g.runs.records.size, 0);
  });

  it('fails the run (recorded and audited, nobody mailed) when its execution cannot be started, and rethrows the error', async () => {
    // Prepare
    const f = makeRunDeps();
    const cause = new Error('Rate exceeded');
    f.executions.start = async () => {
      throw cause;
    };
    // Act
    await assert.rejects(submitRun(f, { ...KEY, submittedBy: 'alice', description: 'x', objects: runObjectKeys(KEY) }), (error: unknown) => error === cause);
    // Assess
    const run = f.runs.peek(KEY);
    assert.equal(run.state, 'failed');
    assert.deepEqual(run.failure, { kind: 'error', message: 'The run could not be started: Rate exceeded' });
    assert.deepEqual(f.audit.entries.map((e) => e.action), ['submitted', 'failed']);
    assert.equal(f.notifier.sent.length, 0);
  });
});

describe('archive home (step)', () => {
  it("archives the submitter's home to the run's keys and returns its digest, with no run record to read", async () => {
    // Prepare: no run stored at all (on AWS the archive step has no table access)
    const f = makeRunDeps();
    f.snapshots.homes.set('demo/alice', HOME);
    // Act
    const archived = await archiveHome(f, KEY, 'alice');
    // Assess
    assert.deepEqual(archived, { digest: buildManifest(HOME).digest, files: 3, totalBytes: buildManifest(HOME).totalBytes });
    assert.deepEqual(f.snapshots.calls, [{ analysisId: 'demo', userId: 'alice', archiveKey: 'runs/demo/run-1/home.tar.gz' }]);
    assert.ok(f.objects.objects.has('runs/demo/run-1/manifest.json'));
  });

  it('refuses, with a message for the researcher, no home, an empty home, a home that cannot be archived, and keys that exist', async () => {
    // Prepare
    const f = makeRunDeps();
    const refused = (pattern: RegExp) => (e: unknown) => e instanceof SubmissionRefusedError && e.name === 'SubmissionRefusedError' && pattern.test(e.message);
    // Act / Assess: no home
    await assert.rejects(archiveHome(f, KEY, 'alice'), refused(/no home in "demo" yet: open the analysis first, then submit/));
    // an empty home (everything excluded)
    f.snapshots.homes.set('demo/alice', []);
    await assert.rejects(archiveHome(f, KEY, 'alice'), refused(/holds no files to submit/));
    // files, but nothing the enclave would run
    const n = makeRunDeps();
    n.snapshots.homes.set('demo/alice', [file('analysis.py', 'print(1)\n'), file('scripts/run.sh', 'python3 analysis.py\n')]);
    await assert.rejects(archiveHome(n, KEY, 'alice'), refused(/no run\.sh in its top folder: the enclave runs `sh run\.sh` there/));
    // too large (the adapter's ValidationError keeps its message)
    const g = makeRunDeps();
    g.snapshots.snapshot = async () => {
      throw new ValidationError('Your home is too large to submit: its archive passes 5 GiB');
    };
    await assert.rejects(archiveHome(g, KEY, 'alice'), refused(/too large to submit: its archive passes 5 GiB/));
    // the keys exist (a retry after the archive was stored)
    const h = makeRunDeps();
    h.snapshots.homes.set('demo/alice', HOME);
    await archiveHome(h, KEY, 'alice');
    await assert.rejects(archiveHome(h, KEY, 'alice'), refused(/exist already.*submit again/));
  });

  it('lets transient errors through unchanged, for the state machine to retry', async () => {
    // Prepare
    const f = makeRunDeps();
    const slow = new TransientError('S3 is slow');
    f.snapshots.snapshot = async () => {
      throw slow;
    };
    // Act / Assess
    await assert.rejects(archiveHome(f, KEY, 'alice'), (e: unknown) => e === slow);
  });

  it('a refusal fails the run (FailRun) with its message, readable from a Lambda error or a local one, and the researcher is told', async () => {
    for (const cause of [
      JSON.stringify({ errorType: 'SubmissionRefusedError', errorMessage: 'Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)', trace: ['at archiveHome (/var/task/index.mjs:1:2)'] }),
      'Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)',
    ]) {
      // Prepare
      const f = makeRunDeps();
      await submitRun(f, { ...KEY, submittedBy: 'alice', description: 'x', objects: runObjectKeys(KEY) });
      // Act
      const failed = await finishRun(f, KEY, 'failed', { Error: 'SubmissionRefusedError', Cause: cause });
      // Assess
      assert.deepEqual([failed.state, failed.failure], ['failed', { kind: 'error', message: 'Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)' }]);
      assert.deepEqual(f.notifier.sent.map((s) => [s.notice, s.to, s.message]), [
        ['failed', ['alice'], 'Run run-1 failed: Your home holds no files to submit (after the exclusions: .git, caches, the synthetic data)'],
      ]);
      assert.deepEqual(f.audit.entries.map((e) => [e.action, e.manifestDigest]), [['submitted', undefined], ['failed', undefined]]);
    }
  });

  it('a Lambda stopped at its own timeout fails the run as timed out', () => {
    assert.deepEqual(failureOf({ Error: 'Sandbox.Timedout', Cause: '{"errorMessage":"2026-11-23T20:00:00Z abc Task timed out after 900.00 seconds"}' }, 'archiving'), {
      kind: 'timed-out',
      message: 'The run timed out while archiving',
    });
  });
});

describe('verify archive (step)', () => {
  async function archived(f: FakeRunDeps) {
    f.snapshots.homes.set('demo/alice', HOME);
    await submitRun(f, { ...KEY, submittedBy: 'alice', description: 'x', objects: runObjectKeys(KEY) });
    return archiveHome(f, KEY, 'alice');
  }

  it('checks the stored manifest and archive against the archived digest, records it and moves archiving → submitted', async () => {
    // Prepare
    const f = makeRunDeps();
    const { digest } = await archived(f);
    // Act
    const verified = await verifyArchive(f, KEY, digest);
    // Assess
    const run = f.runs.peek(KEY);
    assert.deepEqual(verified, { digest });
    assert.deepEqual([run.state, run.manifestDigest], ['submitted', digest]);
    assert.equal(run.deadlineAt, new Date(f.clock.now().getTime() + DEFAULT_RUN_POLICY.deadlines.submitted).toISOString());
    assert.deepEqual(f.audit.entries.map((e) => [e.action, e.actor, e.manifestDigest]), [['submitted', 'alice', undefined], ['archived', 'system', digest]]);
  });

  it('is idempotent on a retry with the same digest; a different digest is an integrity error', async () => {
    // Prepare
    const f = makeRunDeps();
    const { digest } = await archived(f);
    await verifyArchive(f, KEY, digest);
    const version = f.runs.peek(KEY).version;
    // Act
    await verifyArchive(f, KEY, digest);
    // Assess
    assert.equal(f.runs.peek(KEY).version, version, 'nothing written again');
    assert.equal(f.audit.entries.filter((e) => e.action === 'archived').length, 1);
    await assert.rejects(verifyArchive(f, KEY, 'f'.repeat(64)), (e: unknown) => e instanceof IntegrityError && /recorded manifest/.test(e.message));
    assert.equal(f.runs.peek(KEY).manifestDigest, digest);
  });

  it('refuses a tampered archive, naming the changed file, and records nothing', async () => {
    // Prepare
    const f = makeRunDeps();
    const { digest } = await archived(f);
    f.archives.contents.set(runObjectKeys(KEY).archiveKey, buildManifest([file('analysis.py', 'steal()\n'), file('README.md', '# demo\n'), file('run.sh', 'python3 analysis.py\n')]));
    // Act / Assess
    await assert.rejects(verifyArchive(f, KEY, digest), (e: unknown) => e instanceof IntegrityError && /changed: analysis\.py/.test(e.message));
    assert.deepEqual([f.runs.peek(KEY).state, f.runs.peek(KEY).manifestDigest], ['archiving', undefined]);
  });

  it('refuses a stored manifest that is not the one archived', async () => {
    // Prepare
    const f = makeRunDeps();
    await archived(f);
    // Act / Assess
    await assert.rejects(verifyArchive(f, KEY, buildManifest([file('x.py', 'x')]).digest), (e: unknown) => e instanceof IntegrityError && /not the one archived/.test(e.message));
    assert.equal(f.runs.peek(KEY).state, 'archiving');
  });
});

describe('review request', () => {
  it('moves the run to code-review with the task token and tells the reviewers (never the submitter)', async () => {
    // Prepare
    const f = makeRunDeps({ reviewers: ['rita', 'alice'] });
    await submitted(f);
    // Act
    const run = await requestReview(f, KEY, 'code-review', 'token-1');
    // Assess
    assert.equal(run.state, 'code-review');
    assert.equal(run.taskToken, 'token-1');
    assert.deepEqual(f.notifier.sent.map((s) => [s.notice, s.to, s.message]), [['review-needed', ['rita'], 'Run run-1 of demo waits for code review']]);
    assert.deepEqual(f.audit.entries.map((e) => e.action), ['submitted', 'archived', 'review-requested']);
  });

  it("links the reviewers' mail to the run's page in the review console, at both steps", async () => {
    // Prepare
    const f = makeRunDeps();
    // Act (code review, approval, build, run, collect, check, output review)
    await atOutputReview(f);
    // Assess
    const mails = f.notifier.sent.filter((s) => s.notice === 'review-needed');
    assert.deepEqual(
      mails.map((s) => [s.message, s.link]),
      [
        ['Run run-1 of demo waits for code review', 'https://desk.test/review/demo/run-1'],
        ['Run run-1 of demo waits for output review', 'https://desk.test/review/demo/run-1'],
      ],
    );
  });

  it('a retried request keeps the state and takes the newest token, without telling anyone twice', async () => {
    // Prepare
    const f = makeRunDeps();
    await submitted(f);
    await requestReview(f, KEY, 'code-review', 'token-1');
    // Act
    const again = await requestReview(f, KEY, 'code-review', 'token-2');
    const same = await requestReview(f, KEY, 'code-review', 'token-2');
    // Assess
    assert.equal(again.taskToken, 'token-2');
    assert.equal(same.version, again.version);
    assert.equal(f.notifier.sent.length, 1);
  });
});

describe('decide', () => {
  it('an approval is recorded with the digest, audited, and completes the waiting step', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    // Act
    const { outcome, run: after } = await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: 'fine', manifestDigest: run.manifestDigest! });
    // Assess
    assert.equal(outcome, 'approved');
    assert.deepEqual(after.decisions.map((d) => [d.reviewerId, d.verdict, d.manifestDigest]), [['rita', 'approve', run.manifestDigest]]);
    assert.deepEqual(f.tokens.calls, [{ kind: 'succeed', token: 'token-code', output: { outcome: 'approved', step: 'code-review' } }]);
    const last = f.audit.entries.at(-1)!;
    assert.deepEqual([last.action, last.actor, last.step, last.manifestDigest, last.comment], ['approved', 'rita', 'code-review', run.manifestDigest, 'fine']);
  });

  it('self-review is refused and changes nothing', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    const before = f.runs.peek(KEY);
    const alice = { userId: 'alice', roles: ['researcher', 'reviewer'] };
    // Act / Assess
    await assert.rejects(decide(f, alice, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! }), NotAllowedError);
    assert.deepEqual(f.runs.peek(KEY), before);
    assert.equal(f.tokens.calls.length, 0);
    assert.equal(f.audit.entries.length, 3, 'submitted, archived, review-requested: nothing more');
  });

  it('two-approval mode: the first approval waits, a second from another reviewer completes the step', async () => {
    // Prepare
    const f = makeRunDeps({ policy: { ...DEFAULT_RUN_POLICY, requiredApprovals: 2 } });
    const run = await atCodeReview(f);
    const input = { step: 'code-review' as const, verdict: 'approve' as const, comment: '', manifestDigest: run.manifestDigest! };
    // Act
    const first = await decide(f, users.rita, KEY, input);
    const repeat = decide(f, users.rita, KEY, input);
    await assert.rejects(repeat, ConflictError);
    const second = await decide(f, rob, KEY, input);
    // Assess
    assert.equal(first.outcome, 'pending');
    assert.equal(second.outcome, 'approved');
    assert.equal(f.tokens.calls.length, 1);
  });

  it('a rejection needs a comment, completes the step with `rejected`, and a later decision is refused', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    const input = { step: 'code-review' as const, verdict: 'reject' as const, manifestDigest: run.manifestDigest! };
    // Act
    await assert.rejects(decide(f, users.rita, KEY, { ...input, comment: ' ' }), ValidationError);
    const { outcome } = await decide(f, users.rita, KEY, { ...input, comment: 'do not print rows' });
    // Assess
    assert.equal(outcome, 'rejected');
    assert.deepEqual(f.tokens.calls[0]!.output, { outcome: 'rejected', step: 'code-review' });
    await assert.rejects(decide(f, rob, KEY, { ...input, verdict: 'approve', comment: '' }), ConflictError);
  });
});

describe('steps after code review', () => {
  it('building needs approved code', async () => {
    const f = makeRunDeps();
    await atCodeReview(f);
    await assert.rejects(advanceRun(f, KEY, 'building'), (e: unknown) => e instanceof ConflictError && /not approved/.test(e.message));
  });

  it('a run that exited non-zero is not collected', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! });
    await advanceRun(f, KEY, 'building');
    await advanceRun(f, KEY, 'running');
    // Act / Assess
    await assert.rejects(collectOutputs(f, KEY, 3), RunExitError);
    assert.equal(f.runs.peek(KEY).state, 'running');
  });

  it('collect and checks record the outputs digest and the findings; output review waits on them', async () => {
    // Prepare
    const f = makeRunDeps();
    f.checker.findings = [{ path: 'result.csv', where: 'row 1, column n', rule: 'small-count', detail: '3 < 10' }];
    // Act
    const run = await atOutputReview(f);
    // Assess
    assert.equal(run.state, 'output-review');
    assert.equal(run.outputsDigest, buildManifest(f.collector.files).digest);
    assert.equal(run.findings?.length, 1);
    assert.equal(run.taskToken, 'token-output');
  });

  it('release re-verifies the outputs, links them until the expiry, and tells the researcher', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atOutputReview(f);
    await decide(f, users.rita, KEY, { step: 'output-review', verdict: 'approve', comment: '', manifestDigest: run.outputsDigest! });
    // Act
    const released = await releaseRun(f, KEY);
    // Assess
    assert.equal(released.state, 'released');
    assert.equal(released.releaseExpiresAt, new Date(f.clock.now().getTime() + DEFAULT_RUN_POLICY.releaseLinkTtlMs).toISOString());
    const mail = f.notifier.sent.at(-1)!;
    assert.deepEqual([mail.notice, mail.to], ['released', ['alice']]);
    assert.deepEqual(await f.links.verify(mail.link!, f.clock.now()), KEY, 'the link names the run (the desk serves it after checking the bytes)');
    await assert.rejects(f.links.verify(mail.link!, new Date(released.releaseExpiresAt!)), NotAllowedError, 'until the release expires');
    assert.deepEqual(f.audit.entries.map((e) => e.action), ['submitted', 'archived', 'review-requested', 'approved', 'review-requested', 'approved', 'released']);
  });

  it('release refuses outputs changed after review', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atOutputReview(f);
    await decide(f, users.rita, KEY, { step: 'output-review', verdict: 'approve', comment: '', manifestDigest: run.outputsDigest! });
    f.archives.contents.set(run.objects.outputsKey!, buildManifest([file('result.csv', 'n\n3\n')]));
    // Act / Assess
    await assert.rejects(releaseRun(f, KEY), IntegrityError);
    assert.equal(f.runs.peek(KEY).state, 'output-review');
  });

  it('release refuses outputs nobody approved', async () => {
    const f = makeRunDeps();
    await atOutputReview(f);
    await assert.rejects(releaseRun(f, KEY), ConflictError);
  });
});

describe('per-run credentials', () => {
  it('are made only for a run being built (code approved), once however often the step is retried', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    // Act / Assess: not yet approved, nothing is made
    await assert.rejects(prepareRun(f, KEY), (e: unknown) => e instanceof ConflictError && /code-review/.test(e.message));
    assert.equal(f.credentials.held.size, 0);
    await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! });
    await advanceRun(f, KEY, 'building');
    await prepareRun(f, KEY);
    await prepareRun(f, KEY);
    // Assess
    assert.deepEqual([...f.credentials.held], ['demo/run-1']);
    assert.equal(f.runs.peek(KEY).state, 'building');
  });

  it('clean-up removes them, leaves the record alone, and finds nothing left the second time', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! });
    await advanceRun(f, KEY, 'building');
    await prepareRun(f, KEY);
    const before = f.runs.peek(KEY);
    // Act
    const first = await cleanUpRun(f, KEY);
    const second = await runStep(f, { ...KEY, step: 'clean-up' });
    // Assess
    assert.equal(f.credentials.held.size, 0);
    assert.deepEqual(f.runs.peek(KEY), before);
    assert.equal(first.state, 'building');
    assert.equal('state' in second && second.state, 'building');
    assert.deepEqual(f.credentials.calls, ['prepare run-1', 'clean-up run-1', 'clean-up run-1']);
  });

  it('a failing clean-up fails the step (the state machine catches it) without touching the run', async () => {
    // Prepare
    const f = makeRunDeps();
    await atCodeReview(f);
    f.credentials.failCleanUp = new Error('AccessDenied');
    const before = f.runs.peek(KEY);
    // Act / Assess
    await assert.rejects(runStep(f, { ...KEY, step: 'clean-up' }), /AccessDenied/);
    assert.deepEqual(f.runs.peek(KEY), before);
  });
});

describe('finish', () => {
  it('rejected: terminal, audited, the researcher gets the reviewers\' comments', async () => {
    // Prepare
    const f = makeRunDeps();
    const run = await atCodeReview(f);
    await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'reject', comment: 'remove the row dump', manifestDigest: run.manifestDigest! });
    // Act
    const done = await finishRun(f, KEY, 'rejected');
    // Assess
    assert.equal(done.state, 'rejected');
    assert.equal(done.deadlineAt, undefined);
    const mail = f.notifier.sent.at(-1)!;
    assert.deepEqual([mail.notice, mail.to], ['rejected', ['alice']]);
    assert.match(mail.message, /rita: remove the row dump/);
  });

  it('withheld from output review', async () => {
    const f = makeRunDeps();
    const run = await atOutputReview(f);
    await decide(f, users.rita, KEY, { step: 'output-review', verdict: 'reject', comment: 'small cells', manifestDigest: run.outputsDigest! });
    assert.equal((await finishRun(f, KEY, 'withheld')).state, 'withheld');
  });

  it('failed with a timeout is `timed-out`; finishing twice notifies once', async () => {
    // Prepare
    const f = makeRunDeps();
    await atCodeReview(f);
    // Act
    const failed = await finishRun(f, KEY, 'failed', { Error: 'States.Timeout', Cause: '' });
    await finishRun(f, KEY, 'failed', { Error: 'States.Timeout' });
    // Assess
    assert.deepEqual(failed.failure, { kind: 'timed-out', message: 'The run timed out while waiting for code review' });
    assert.equal(f.notifier.sent.filter((s) => s.notice === 'failed').length, 1);
  });

  it('a Lambda error cause is reduced to its message (no trace); an integrity error is `integrity`', () => {
    const cause = JSON.stringify({ errorType: 'IntegrityError', errorMessage: 'The submitted archive does not match its manifest: changed: a.py', trace: ['at x'] });
    assert.deepEqual(failureOf({ Error: 'IntegrityError', Cause: cause }, 'submitted'), {
      kind: 'integrity',
      message: 'The submitted archive does not match its manifest: changed: a.py',
    });
    assert.deepEqual(failureOf({ Error: 'RunExitError', Cause: 'The run exited with code 2\nstack' }, 'running'), { kind: 'error', message: 'The run exited with code 2' });
  });
});

describe('runStep dispatch', () => {
  it('routes each step payload to its use case and returns the new state', async () => {
    // Prepare
    const f = makeRunDeps();
    f.snapshots.homes.set('demo/alice', HOME);
    await submitRun(f, { ...KEY, submittedBy: 'alice', description: 'x', objects: runObjectKeys(KEY) });
    // Act
    const archived = await runStep(f, { ...KEY, step: 'archive-home', submittedBy: 'alice' });
    const verified = await runStep(f, { ...KEY, step: 'verify-archive', manifestDigest: buildManifest(HOME).digest });
    const waiting = await runStep(f, { ...KEY, step: 'request-review', review: 'code-review', taskToken: 't' });
    const failed = await runStep(f, { ...KEY, step: 'finish', outcome: 'failed', error: { Error: 'States.Timeout' } });
    // Assess
    assert.deepEqual([archived, verified, waiting, failed], [
      { digest: buildManifest(HOME).digest, files: 3, totalBytes: buildManifest(HOME).totalBytes },
      { state: 'submitted' },
      { state: 'code-review' },
      { state: 'failed' },
    ]);
  });
});
