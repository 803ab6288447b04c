import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clockSkewMs, serverNowMs, toLocalMs } from '../../../frontend/src/logic/clock.js';
import { idleCountdown } from '../../../frontend/src/logic/countdown.js';
import { formatCountdown, formatElapsed, inSentence, timeLeftText } from '../../../frontend/src/logic/format.js';

const warnAt = '2030-01-01T12:29:00.000Z';
const stopAt = '2030-01-01T12:30:00.000Z';
const ready = { state: 'ready' as const, idle: { warnAt, stopAt } };

describe('clock skew', () => {
  it('takes the server time as stamped halfway through the request', () => {
    // Prepare
    const serverTime = '2030-01-01T12:00:10.000Z';
    const sentAt = Date.parse('2030-01-01T12:00:00.000Z');
    const receivedAt = sentAt + 200;

    // Act
    const skew = clockSkewMs(serverTime, sentAt, receivedAt);

    // Assess
    assert.equal(skew, 9_900);
    assert.equal(serverNowMs(receivedAt, skew), Date.parse(serverTime) + 100);
    assert.equal(toLocalMs(serverTime, skew), sentAt + 100);
  });

  it('assumes no skew when the server time is unreadable', () => {
    assert.equal(clockSkewMs('not a time', 0, 10), 0);
  });
});

describe('idle countdown', () => {
  it('is hidden one millisecond before warnAt (server time)', () => {
    // Prepare
    const skew = 90_000; // the local clock is 90 s behind the server
    const local = Date.parse(warnAt) - skew - 1;

    // Act
    const countdown = idleCountdown(ready, serverNowMs(local, skew));

    // Assess
    assert.equal(countdown.show, false);
  });

  it('appears exactly at warnAt on the server clock, whatever the local clock says', () => {
    // Prepare
    const skew = -45_000; // the local clock is 45 s ahead of the server
    const local = Date.parse(warnAt) - skew;

    // Act
    const countdown = idleCountdown(ready, serverNowMs(local, skew));

    // Assess
    assert.equal(countdown.show, true);
    assert.equal(countdown.remaining, '1:00');
    assert.equal(countdown.text, 'Your workspace will stop in 1:00 because it looks idle');
  });

  it('counts down to 0:00 and never below', () => {
    // Prepare
    const stop = Date.parse(stopAt);

    // Act
    const texts = [stop - 59_001, stop - 1_000, stop - 1, stop, stop + 30_000].map((now) => idleCountdown(ready, now).remaining);

    // Assess
    assert.deepEqual(texts, ['1:00', '0:01', '0:01', '0:00', '0:00']);
  });

  it('is hidden unless the workspace is ready with an idle deadline', () => {
    // Prepare
    const late = Date.parse(stopAt);

    // Act
    const shown = [
      idleCountdown(undefined, late).show,
      idleCountdown({ state: 'stopping', idle: ready.idle }, late).show,
      idleCountdown({ state: 'ready', idle: undefined }, late).show,
    ];

    // Assess
    assert.deepEqual(shown, [false, false, false]);
  });
});

describe('formatting', () => {
  it('formats countdowns (rounded up) and elapsed time (rounded down) as m:ss', () => {
    assert.equal(formatCountdown(60_000), '1:00');
    assert.equal(formatCountdown(59_001), '1:00');
    assert.equal(formatCountdown(9_500), '0:10');
    assert.equal(formatCountdown(125_000), '2:05');
    assert.equal(formatCountdown(-5), '0:00');
    assert.equal(formatElapsed(12_999), '0:12');
    assert.equal(formatElapsed(61_000), '1:01');
  });

  it('says about how long is left, or that it is almost there', () => {
    assert.equal(timeLeftText(42.4), 'about 42 s left');
    assert.equal(timeLeftText(0), 'almost there');
  });

  it('puts a server reason inside a sentence', () => {
    assert.equal(inSentence('Stopped by alice'), 'stopped by alice');
    assert.equal(inSentence('Idle for 30 minutes.'), 'idle for 30 minutes');
    assert.equal(inSentence('EC2 capacity'), 'EC2 capacity');
  });
});
