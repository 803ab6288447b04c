import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  approvalsText,
  decisionLine,
  descriptionError,
  expiryText,
  fileDownloadUrl,
  formatDuration,
  liveDownload,
  reviewers,
  runExplanation,
  runStateLabel,
  runsPollDelay,
  shortDigest,
  waitingSeconds,
} from '../../../frontend/src/logic/runs.js';
import { decisionDigest } from '../../../frontend/src/logic/review.js';
import type { DecisionJson, RunDetailJson } from '../../../frontend/src/runs-types.js';

const decision = (over: Partial<DecisionJson>): DecisionJson => ({
  step: 'code-review',
  reviewerId: 'rita',
  verdict: 'approve',
  comment: '',
  manifestDigest: 'sha256:aa',
  at: '2026-11-23T18:00:00.000Z',
  ...over,
});

describe('runs list logic', () => {
  it('shows a run being archived (the 202 of a submit) as in progress, polled, and explains it; no digest yet is no crash', () => {
    // Act / Assess
    assert.equal(runStateLabel('archiving'), 'Archiving your files');
    assert.match(runExplanation({ state: 'archiving' }), /being archived/);
    assert.equal(runsPollDelay([{ state: 'archiving' }]), 3_000);
    assert.equal(shortDigest(undefined), '');
    const detail = { step: undefined, run: { state: 'archiving' } } as unknown as RunDetailJson;
    assert.equal(decisionDigest(detail), '');
  });

  it('polls while any run can still change, and stops once every run is finished', () => {
    // Act
    const inProgress = runsPollDelay([{ state: 'released' }, { state: 'code-review' }]);
    const finished = runsPollDelay([{ state: 'released' }, { state: 'rejected' }, { state: 'failed' }, { state: 'withheld' }]);
    const empty = runsPollDelay([]);

    // Assess
    assert.equal(inProgress, 3_000);
    assert.equal(finished, null);
    assert.equal(empty, null);
  });

  it('backs off after failed reads, up to 30 s', () => {
    assert.deepEqual([1, 2, 5].map((failures) => runsPollDelay([{ state: 'running' }], failures)), [6_000, 12_000, 30_000]);
  });

  it('requires a description of at most 500 characters', () => {
    assert.match(descriptionError('   ') ?? '', /Describe the run/);
    assert.match(descriptionError('x'.repeat(501)) ?? '', /500 characters \(it has 501\)/);
    assert.equal(descriptionError(`  ${'x'.repeat(500)}  `), undefined);
    // Characters, not UTF-16 units: 500 emoji fit
    assert.equal(descriptionError('🧪'.repeat(500)), undefined);
  });

  it('says durations as people do', () => {
    assert.deepEqual([0, 59, 60, 3599, 3600, 3660, 86_400, 90_000].map(formatDuration), ['0 s', '59 s', '1 min', '59 min', '1 h', '1 h 1 min', '1 d', '1 d 1 h']);
  });

  it('counts the waiting time of unfinished runs only', () => {
    // Prepare
    const now = Date.parse('2026-11-23T18:05:00.000Z');

    // Act + Assess
    assert.equal(waitingSeconds({ state: 'code-review', stateEnteredAt: '2026-11-23T18:00:00.000Z' }, now), 300);
    assert.equal(waitingSeconds({ state: 'released', stateEnteredAt: '2026-11-23T18:00:00.000Z' }, now), undefined);
  });

  it('words decisions, reviewers and approvals', () => {
    // Prepare
    const decisions = [
      decision({}),
      decision({ step: 'output-review', reviewerId: 'rex', verdict: 'reject', comment: 'too small' }),
      decision({ step: 'output-review', reviewerId: 'rita' }),
    ];

    // Assess
    assert.equal(decisionLine(decisions[0]!), 'Code approved by rita');
    assert.equal(decisionLine(decisions[1]!), 'Outputs rejected by rex');
    assert.deepEqual(reviewers({ decisions }), ['rita', 'rex']);
    assert.equal(approvalsText(decisions, 'output-review', 2), '1 of 2 approvals');
    assert.equal(approvalsText(decisions, 'code-review', 1), '1 of 1 approval');
    assert.equal(runStateLabel('output-review'), 'Waiting for output review');
  });

  it('offers the download only while its link lives, and links single files by path', () => {
    // Prepare
    const now = Date.parse('2026-11-23T18:00:00.000Z');
    const download = { url: '/api/runs/demo.r1/download?token=t', expiresAt: '2026-11-24T18:00:00.000Z' };

    // Assess
    assert.deepEqual(liveDownload({ download }, now), download);
    assert.equal(liveDownload({ download }, Date.parse('2026-11-24T18:00:00.000Z')), undefined);
    assert.equal(expiryText(download.expiresAt, now), 'link expires in 1 d');
    assert.equal(expiryText(download.expiresAt, now + 86_400_000), 'link expired');
    assert.equal(fileDownloadUrl(download.url, 'out/counts by area.csv'), '/api/runs/demo.r1/download?token=t&path=out%2Fcounts%20by%20area.csv');
  });
});
