import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartbeatSchedule } from '../../../frontend/src/logic/heartbeat.js';

describe('HeartbeatSchedule', () => {
  it('is due when the page is visible and the person is present', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);

    // Act
    const due = schedule.isDue(0, true);

    // Assess
    assert.equal(due, true);
  });

  it('is never due while the page is hidden, however present the person was', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.markPresence();

    // Act
    const due = [0, 60_000, 600_000].map((now) => schedule.isDue(now, false));

    // Assess
    assert.deepEqual(due, [false, false, false]);
  });

  it('is not due when visible but nobody showed presence', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000, { present: false });

    // Act
    const due = schedule.isDue(120_000, true);

    // Assess
    assert.equal(due, false);
  });

  it('resets presence after a beat: the next one needs new presence', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.beatStarted(0);
    schedule.beatAnswered();

    // Act
    const withoutPresence = schedule.isDue(61_000, true);
    schedule.markPresence();
    const withPresence = schedule.isDue(61_000, true);

    // Assess
    assert.equal(withoutPresence, false);
    assert.equal(withPresence, true);
  });

  it('waits the interval between beats even with presence', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.beatStarted(1_000);
    schedule.beatAnswered();
    schedule.markPresence();

    // Act
    const early = schedule.isDue(60_999, true);
    const onTime = schedule.isDue(61_000, true);

    // Assess
    assert.equal(early, false);
    assert.equal(onTime, true);
  });

  it('counts presence shown while a beat is in flight toward the next beat, and sends one at a time', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.beatStarted(0);
    schedule.markPresence();

    // Act
    const whileInFlight = schedule.isDue(70_000, true);
    schedule.beatAnswered();
    const afterAnswer = schedule.isDue(70_000, true);

    // Assess
    assert.equal(whileInFlight, false);
    assert.equal(afterAnswer, true);
  });

  it('retries a beat that did not reach the server after a short delay, keeping the presence', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.beatStarted(0);

    // Act
    schedule.beatFailed(1_000, 5_000);

    // Assess
    assert.equal(schedule.isDue(5_999, true), false);
    assert.equal(schedule.isDue(6_000, true), true);
  });

  it('follows the interval the server asks for', () => {
    // Prepare
    const schedule = new HeartbeatSchedule(60_000);
    schedule.beatStarted(0);
    schedule.beatAnswered();
    schedule.markPresence();

    // Act
    schedule.setInterval(10_000);

    // Assess
    assert.equal(schedule.isDue(10_000, true), true);
  });
});
