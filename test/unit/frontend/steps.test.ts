import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failedStep, progressAnnouncement, progressSummary, stepRows } from '../../../frontend/src/logic/steps.js';
import type { ProgressStep, WorkspaceState } from '../../../frontend/src/types.js';

function view(state: WorkspaceState, statuses: ProgressStep['status'][]) {
  const labels: [ProgressStep['id'], string][] = [
    ['reserving', 'Reserving'],
    ['starting', 'Starting Jupyter'],
    ['connecting', 'Connecting'],
  ];
  return { state, steps: labels.map(([id, label], i) => ({ id, label, status: statuses[i] })) };
}

describe('stepRows', () => {
  it('shows each step with an icon and a status a screen reader can say', () => {
    // Act
    const rows = stepRows(view('provisioning', ['done', 'active', 'pending']), false);

    // Assess
    assert.deepEqual(
      rows.map((row) => [row.label, row.status, row.icon, row.statusText]),
      [
        ['Reserving', 'done', '✓', 'done'],
        ['Starting Jupyter', 'active', '', 'in progress'],
        ['Connecting', 'pending', '○', 'not started'],
      ],
    );
    assert.equal(progressAnnouncement(rows), 'Starting Jupyter: in progress');
  });

  it('keeps "Connecting" active until the iframe has loaded, then all is done', () => {
    // Prepare
    const readyView = view('ready', ['done', 'done', 'active']);

    // Act
    const before = stepRows(readyView, false);
    const after = stepRows(readyView, true);

    // Assess
    assert.equal(before[2].status, 'active');
    assert.deepEqual(
      after.map((row) => row.status),
      ['done', 'done', 'done'],
    );
    assert.equal(progressAnnouncement(after), 'Connected');
  });

  it('names the step that failed', () => {
    // Prepare
    const failed = view('failed', ['done', 'failed', 'pending']);

    // Act
    const rows = stepRows(failed, false);

    // Assess
    assert.equal(rows[1].icon, '✕');
    assert.equal(failedStep(failed), 'Starting Jupyter');
    assert.equal(progressAnnouncement(rows), 'Starting Jupyter: failed');
  });
});

describe('progressSummary', () => {
  it('gives elapsed time and the estimate left', () => {
    assert.deepEqual(progressSummary({ estimatedSecondsLeft: 21 }, 1_000, 13_500), { elapsed: '0:12', timeLeft: 'about 21 s left' });
    assert.deepEqual(progressSummary({ estimatedSecondsLeft: 0 }, undefined, 13_500), { elapsed: '0:00', timeLeft: 'almost there' });
  });
});
