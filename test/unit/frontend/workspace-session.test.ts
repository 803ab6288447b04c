import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiResult, WorkspaceApi } from '../../../frontend/src/api.js';
import { WorkspaceSession } from '../../../frontend/src/logic/workspace-session.js';
import type { WorkspaceState, WorkspaceViewJson } from '../../../frontend/src/types.js';

type Method = keyof WorkspaceApi;

/** A fake clock with timers, a fake API that answers from a script, and a visible page. */
function harness(answer: (method: Method, clock: number) => ApiResult<WorkspaceViewJson>) {
  let clock = Date.parse('2030-01-01T12:00:00.000Z');
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const calls: Method[] = [];
  let visible = true;
  let unauthenticated = 0;
  const api = Object.fromEntries(
    (['status', 'open', 'heartbeat', 'stop'] as const).map((method) => [
      method,
      async () => {
        calls.push(method);
        return answer(method, clock);
      },
    ]),
  ) as unknown as WorkspaceApi;
  const session = new WorkspaceSession({
    analysisId: 'demo',
    api,
    now: () => clock,
    isVisible: () => visible,
    timers: {
      set: (fn, ms) => {
        const id = ++nextId;
        timers.push({ at: clock + ms, fn, id });
        return id;
      },
      clear: (id) => {
        timers = timers.filter((timer) => timer.id !== id);
      },
    },
    onUnauthenticated: () => unauthenticated++,
  });
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    session,
    calls,
    get now() {
      return clock;
    },
    get unauthenticated() {
      return unauthenticated;
    },
    setVisible(value: boolean) {
      visible = value;
    },
    flush,
    /** Move the clock forward, firing timers in order. */
    async advance(ms: number) {
      const end = clock + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const due = timers[0];
        if (!due || due.at > end) break;
        timers.shift();
        clock = due.at;
        due.fn();
        await flush();
      }
      clock = end;
      await flush();
    },
  };
}

function viewJson(state: WorkspaceState, now: number, extra: Partial<WorkspaceViewJson> = {}): WorkspaceViewJson {
  return {
    analysisId: 'demo',
    workspaceId: 'w1',
    state,
    tool: 'jupyter',
    steps: [
      { id: 'reserving', label: 'Reserving', status: 'active' },
      { id: 'starting', label: 'Starting Jupyter', status: 'pending' },
      { id: 'connecting', label: 'Connecting', status: 'pending' },
    ],
    estimatedSecondsLeft: 30,
    stateEnteredAt: new Date(now).toISOString(),
    resumed: false,
    serverTime: new Date(now).toISOString(),
    heartbeatSeconds: 60,
    ...extra,
  };
}

function ok(data: WorkspaceViewJson): ApiResult<WorkspaceViewJson> {
  return { ok: true, status: 200, data, sentAt: Date.parse(data.serverTime), receivedAt: Date.parse(data.serverTime) };
}

function fail(status: number, message = 'refused'): ApiResult<WorkspaceViewJson> {
  return { ok: false, status, code: 'x', message };
}

function readyView(now: number, idleInMs = 1_800_000) {
  return viewJson('ready', now, {
    url: 'http://ws-abc.app.localhost:8080/',
    idle: { stopAt: new Date(now + idleInMs).toISOString(), warnAt: new Date(now + idleInMs - 60_000).toISOString() },
  });
}

describe('WorkspaceSession', () => {
  it('opens the workspace when there is none yet, then polls every second until ready', async () => {
    // Prepare
    let polls = 0;
    const h = harness((method, now) => {
      if (method === 'open') return ok(viewJson('starting', now));
      if (method === 'status' && polls++ === 0) return fail(404, 'You have no workspace for analysis "demo" yet');
      return ok(polls < 4 ? viewJson('provisioning', now) : readyView(now));
    });

    // Act
    h.session.start();
    await h.flush();
    await h.advance(5_000);

    // Assess
    assert.deepEqual(h.calls.slice(0, 5), ['status', 'open', 'status', 'status', 'status']);
    assert.equal(h.session.getSnapshot().view?.state, 'ready');
    assert.equal(h.session.getSnapshot().screen.kind, 'workspace');
  });

  it('shows "No such analysis" when open says the analysis does not exist', async () => {
    // Prepare
    const h = harness((method) => fail(404, method === 'open' ? 'There is no analysis "nope"' : 'none yet'));

    // Act
    h.session.start();
    await h.flush();

    // Assess
    assert.deepEqual(h.session.getSnapshot().screen, { kind: 'no-such-analysis', message: 'There is no analysis "nope"' });
  });

  it('shows "not allowed" with the API message on 403', async () => {
    // Prepare
    const h = harness((method) => (method === 'status' ? fail(404) : fail(403, 'You are not a researcher on analysis "census-2021"')));

    // Act
    h.session.start();
    await h.flush();

    // Assess
    assert.deepEqual(h.session.getSnapshot().screen, { kind: 'not-allowed', message: 'You are not a researcher on analysis "census-2021"' });
  });

  it('sends the user to sign in on 401', async () => {
    // Prepare
    const h = harness(() => fail(401, 'Please sign in'));

    // Act
    h.session.start();
    await h.flush();

    // Assess
    assert.equal(h.unauthenticated, 1);
  });

  it('relaunches a terminated workspace on page load, once', async () => {
    // Prepare
    const h = harness((method, now) => (method === 'open' ? ok(viewJson('terminated', now)) : ok(viewJson('terminated', now))));

    // Act
    h.session.start();
    await h.flush();
    await h.advance(60_000);

    // Assess
    assert.deepEqual(h.calls, ['status', 'open']);
  });

  it('does not relaunch a failed workspace by itself; "Try again" opens it', async () => {
    // Prepare
    const h = harness((method, now) => (method === 'open' ? ok(viewJson('starting', now)) : ok(viewJson('failed', now, { reason: 'Jupyter crashed' }))));
    h.session.start();
    await h.flush();
    await h.advance(30_000);
    const before = [...h.calls];

    // Act
    h.session.resume();
    await h.flush();

    // Assess
    assert.deepEqual(before, ['status']);
    assert.equal(h.calls.at(-1), 'open');
    assert.equal(h.session.getSnapshot().view?.state, 'starting');
  });

  it('sends heartbeats only while visible and present, at the interval', async () => {
    // Prepare
    const h = harness((_method, now) => ok(readyView(now)));
    h.session.start();
    await h.flush();
    await h.advance(1_000);
    const heartbeats = () => h.calls.filter((call) => call === 'heartbeat').length;
    const afterLoad = heartbeats();

    // Act: nobody touches the page for two intervals
    await h.advance(130_000);
    const idle = heartbeats();
    // someone moves the mouse, but the page is hidden
    h.session.presence();
    h.setVisible(false);
    await h.advance(70_000);
    const hidden = heartbeats();
    // the page becomes visible again
    h.setVisible(true);
    h.session.visibilityChanged(true);
    await h.flush();
    const visibleAgain = heartbeats();

    // Assess
    assert.equal(afterLoad, 1, 'opening the page counts as presence');
    assert.equal(idle, 1, 'no presence, no heartbeat');
    assert.equal(hidden, 1, 'hidden page, no heartbeat');
    assert.equal(visibleAgain, 2, 'becoming visible is presence');
  });

  it('polls status when a heartbeat answers 409', async () => {
    // Prepare
    let stopped = false;
    const h = harness((method, now) => {
      if (method === 'heartbeat') {
        stopped = true;
        return fail(409, 'The workspace is not running');
      }
      return ok(stopped ? viewJson('stopped', now, { reason: 'Idle for 30 minutes' }) : readyView(now));
    });

    // Act
    h.session.start();
    await h.flush();
    await h.advance(1_000);

    // Assess
    assert.deepEqual(h.calls, ['status', 'heartbeat', 'status']);
    assert.equal(h.session.getSnapshot().view?.state, 'stopped');
  });

  it('shows the countdown at warnAt, reads status at once, and "Keep working" hides it', async () => {
    // Prepare: stop in 2 minutes, warning 1 minute before
    const start = Date.parse('2030-01-01T12:00:00.000Z');
    let keepWorkingClicked = false;
    let extended = false;
    const h = harness((method, now) => {
      if (method === 'heartbeat' && keepWorkingClicked) extended = true;
      return ok(extended ? readyView(now) : readyView(start, 120_000));
    });
    h.session.start();
    await h.flush();
    await h.advance(59_000);
    const before = h.session.getSnapshot().countdown.show;
    const callsBefore = h.calls.length;

    // Act
    await h.advance(1_000);
    const at = h.session.getSnapshot().countdown;
    const polledAtOnce = h.calls.slice(callsBefore);
    keepWorkingClicked = true;
    h.session.keepWorking();
    await h.flush();
    await h.advance(1_000);

    // Assess
    assert.equal(before, false);
    assert.equal(at.show, true);
    assert.equal(at.text, 'Your workspace will stop in 1:00 because it looks idle');
    assert.deepEqual(polledAtOnce, ['status']);
    assert.equal(h.calls.at(-1), 'heartbeat');
    assert.equal(h.session.getSnapshot().countdown.show, false);
  });

  it('marks the workspace connected only when the iframe loaded its url', async () => {
    // Prepare
    const h = harness((_method, now) => ok(readyView(now)));
    h.session.start();
    await h.flush();

    // Act
    h.session.frameLoaded('http://other/');
    const wrong = h.session.getSnapshot().connected;
    h.session.frameLoaded('http://ws-abc.app.localhost:8080/');

    // Assess
    assert.equal(wrong, false);
    assert.equal(h.session.getSnapshot().connected, true);
  });

  it('"Resume" while stopping waits for the stop, then opens once', async () => {
    // Prepare
    let polls = 0;
    let opened = false;
    const h = harness((method, now) => {
      if (method === 'open') opened = true;
      if (opened) return ok(viewJson('starting', now));
      return ok(polls++ < 2 ? viewJson('stopping', now, { reason: 'Stopped by alice' }) : viewJson('stopped', now, { reason: 'Stopped by alice' }));
    });
    h.session.start();
    await h.flush();

    // Act
    h.session.resume();
    const requested = h.session.getSnapshot().resumeRequested;
    await h.advance(5_000);

    // Assess
    assert.equal(requested, true);
    assert.equal(h.calls.filter((call) => call === 'open').length, 1);
    assert.equal(h.session.getSnapshot().view?.state, 'starting');
  });

  it('ignores an answer older than one already applied', async () => {
    // Prepare: a heartbeat is answered after the stop that followed it
    let releaseHeartbeat: (() => void) | undefined;
    const h = harness((_method, now) => ok(readyView(now)));
    const session = h.session as unknown as { deps: { api: WorkspaceApi } };
    const api = session.deps.api;
    const start = Date.parse('2030-01-01T12:00:00.000Z');
    api.heartbeat = () => new Promise((resolve) => (releaseHeartbeat = () => resolve(ok(readyView(start)))));
    api.stop = async () => ok(viewJson('stopping', start, { reason: 'Stopped by alice' }));
    h.session.start();
    await h.flush();
    await h.advance(1_000);

    // Act
    await h.session.stop();
    releaseHeartbeat?.();
    await h.flush();

    // Assess
    assert.equal(h.session.getSnapshot().view?.state, 'stopping');
  });

  it('keeps trying with backoff when carrel cannot be reached on load', async () => {
    // Prepare
    let attempts = 0;
    const h = harness((_method, now) => (attempts++ < 2 ? fail(0, 'Could not reach carrel') : ok(viewJson('starting', now))));

    // Act
    h.session.start();
    await h.flush();
    const notice = h.session.getSnapshot().notice;
    await h.advance(10_000);

    // Assess
    assert.equal(notice, 'Could not reach carrel');
    assert.equal(h.session.getSnapshot().view?.state, 'starting');
    assert.equal(h.session.getSnapshot().notice, undefined);
  });
});
