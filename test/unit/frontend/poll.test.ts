import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextPollDelay, retryDelay } from '../../../frontend/src/logic/poll.js';

describe('nextPollDelay', () => {
  it('polls about every second while the workspace starts', () => {
    assert.equal(nextPollDelay('starting'), 1_000);
    assert.equal(nextPollDelay('provisioning'), 1_000);
  });

  it('reads status about every 4 minutes while ready (refreshes the gate cookie)', () => {
    assert.equal(nextPollDelay('ready'), 240_000);
  });

  it('reads status more often during the idle countdown', () => {
    assert.equal(nextPollDelay('ready', { countdown: true }), 10_000);
  });

  it('follows a stop until it settles', () => {
    assert.equal(nextPollDelay('stopping'), 2_000);
    assert.equal(nextPollDelay('terminating'), 2_000);
  });

  it('does not poll where only the user can change things', () => {
    assert.equal(nextPollDelay('stopped'), null);
    assert.equal(nextPollDelay('terminated'), null);
    assert.equal(nextPollDelay('failed'), null);
  });

  it('backs off after failures, up to 30 s', () => {
    // Act
    const delays = [1, 2, 3, 10].map((failures) => nextPollDelay('starting', { failures }));

    // Assess
    assert.deepEqual(delays, [2_000, 4_000, 8_000, 30_000]);
    assert.equal(nextPollDelay('ready', { failures: 1 }), 2_000);
    assert.equal(nextPollDelay('stopped', { failures: 3 }), null);
    assert.equal(retryDelay(1), 2_000);
    assert.equal(retryDelay(20), 30_000);
  });
});
