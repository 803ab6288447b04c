/**
 * The researcher's journey on the real local platform: dynalite, the handlers, the gate and Jupyter.
 * open → ready → Jupyter answers through the gate → a kernel runs 1+1 over the WebSocket → idle →
 * stopped → reopen → the saved file is still there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call, openSocket, waitFor, type CookieJar } from '../support/http.js';
import { openUntilReady, signIn, startTestRuntime, type TestRuntime } from '../support/local-runtime.js';
import { isAlive } from '../../local/processes.js';

function hostOf(view: { url: string }) {
  return new URL(view.url).hostname;
}

async function runCode(t: TestRuntime, host: string, jar: CookieJar, code: string): Promise<string> {
  const kernel = await call(t.port, host, 'POST', '/api/kernels', { jar, body: { name: 'python3' } });
  assert.equal(kernel.status, 201, kernel.body);
  const { id } = kernel.json();
  const socket = await openSocket(t.port, host, `/api/kernels/${id}/channels?session_id=${randomUUID()}`, jar);
  try {
    const msgId = randomUUID();
    const result = new Promise<string>((resolve, reject) => {
      socket.on('message', (data) => {
        const msg = JSON.parse(String(data));
        if (msg.parent_header?.msg_id !== msgId) return;
        if (msg.msg_type === 'execute_result') resolve(msg.content.data['text/plain']);
        if (msg.msg_type === 'error') reject(new Error(msg.content.evalue));
      });
    });
    socket.send(
      JSON.stringify({
        header: { msg_id: msgId, username: 'test', session: randomUUID(), msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
        parent_header: {},
        metadata: {},
        content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
        channel: 'shell',
        buffers: [],
      }),
    );
    return await Promise.race([result, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no execute_result within 30 s')), 30_000))]);
  } finally {
    socket.close();
    await call(t.port, host, 'DELETE', `/api/kernels/${id}`, { jar });
  }
}

describe('local runtime: the researcher journey', { timeout: 240_000 }, () => {
  let t: TestRuntime;
  before(async () => {
    t = await startTestRuntime({ CARREL_IDLE_TIMEOUT_SECONDS: '4', CARREL_IDLE_WARNING_SECONDS: '2' });
  });
  after(async () => t?.close());

  it('opens, runs a kernel through the gate, idles to stopped, and resumes with the same home', async () => {
    // Prepare
    const alice = await signIn(t, 'alice');

    // Act: open until ready
    const ready = await openUntilReady(t, alice, 'demo');

    // Assess: the tool answers through the gate on its own host
    const host = hostOf(ready);
    assert.match(host, /^ws-[a-z0-9]{16}\.app\.localhost$/);
    const status = await call(t.port, host, 'GET', '/api/status', { jar: alice });
    assert.equal(status.status, 200, status.body);
    const tree = await call(t.port, host, 'GET', '/tree', { jar: alice, headers: { 'sec-fetch-mode': 'navigate' } });
    assert.equal(tree.status, 200);
    assert.match(tree.body, /Jupyter/);

    // Act + Assess: a kernel executes 1+1 over the WebSocket through the gate
    assert.equal(await runCode(t, host, alice, '1+1'), '2');

    // Act: save a file in the home
    const saved = await call(t.port, host, 'PUT', '/api/contents/hello.txt', { jar: alice, body: { type: 'file', format: 'text', content: 'kept between sessions' } });
    assert.ok(saved.status === 200 || saved.status === 201, saved.body);

    // Act: go idle (no heartbeats, no traffic) and let housekeeping run
    const stopped = await waitFor(
      'the idle stop',
      async () => {
        await t.runtime.housekeeping();
        const view = (await call(t.port, t.desk, 'GET', '/api/workspaces/demo', { jar: alice })).json();
        return view.state === 'stopped' ? view : undefined;
      },
      30_000,
      500,
    );
    // Assess: stopped for being idle, the host no longer answers
    assert.match(stopped.reason, /idle/i);
    const gone = await call(t.port, host, 'GET', '/api/status', { jar: alice });
    assert.equal(gone.status, 404);

    // Act: reopen
    const resumed = await openUntilReady(t, alice, 'demo');

    // Assess: resumed with the same home (a new host), the saved file is there
    assert.equal(resumed.resumed, true);
    const newHost = hostOf(resumed);
    assert.notEqual(newHost, host);
    const file = await call(t.port, newHost, 'GET', '/api/contents/hello.txt?content=1', { jar: alice });
    assert.equal(file.status, 200, file.body);
    assert.equal(file.json().content, 'kept between sessions');
    const onDisk = await readFile(join(t.dataDir, 'homes', 'demo', 'alice', 'hello.txt'), 'utf8');
    assert.equal(onDisk, 'kept between sessions');
  });

  it('keeps workspaces apart: bob gets his own, and neither opens the other', async () => {
    // Prepare
    const alice = await signIn(t, 'alice');
    const bob = await signIn(t, 'bob');

    // Act
    const alices = await openUntilReady(t, alice, 'demo');
    const bobs = await openUntilReady(t, bob, 'demo');

    // Assess: two workspaces, two hosts
    assert.notEqual(alices.workspaceId, bobs.workspaceId);
    assert.notEqual(hostOf(alices), hostOf(bobs));
    // bob on alice's host: refused with a clear page, even with his own gate cookie
    const refused = await call(t.port, hostOf(alices), 'GET', '/tree', { jar: bob });
    assert.equal(refused.status, 403);
    assert.match(refused.body, /not allowed|expired|not signed in/i);
    // a cookie for one workspace does not open another: send bob's cookie value under alice's name
    const alicesLabel = hostOf(alices).split('.')[0];
    const bobsLabel = hostOf(bobs).split('.')[0];
    const forged = await call(t.port, hostOf(alices), 'GET', '/tree', {
      headers: { cookie: `carrel_gate_${alicesLabel}=${bob.get(`carrel_gate_${bobsLabel}`)}` },
    });
    assert.equal(forged.status, 403);
    // alice is not on census-2021
    const notMember = await call(t.port, t.desk, 'POST', '/api/workspaces/census-2021/open', { jar: alice });
    assert.equal(notMember.status, 403);
    assert.match(notMember.json().error.message, /not/i);
  });
});

describe('local runtime: a tool that fails to start', { timeout: 120_000 }, () => {
  let t: TestRuntime;
  before(async () => {
    t = await startTestRuntime({ CARREL_JUPYTER_COMMAND: '/bin/false' });
  });
  after(async () => t?.close());

  it('shows what failed and leaves nothing running', async () => {
    // Prepare
    const alice = await signIn(t, 'alice');

    // Act
    await call(t.port, t.desk, 'POST', '/api/workspaces/demo/open', { jar: alice });
    const failed = await waitFor('the failure', async () => {
      const view = (await call(t.port, t.desk, 'GET', '/api/workspaces/demo', { jar: alice })).json();
      return view.state === 'failed' ? view : undefined;
    });

    // Assess: a reason naming Jupyter, a failed step, and no process or instance left
    assert.match(failed.reason, /Jupyter/);
    assert.ok(failed.steps.some((s: { status: string }) => s.status === 'failed'));
    // (the cleanup terminates the instance, then takes the name back: wait for both)
    const left = await waitFor('cleanup', async () => {
      const instances = await t.runtime.compute.listTagged();
      const hostnames = await t.runtime.hostnames.list();
      return instances.length === 0 && hostnames.length === 0 ? { instances, hostnames } : undefined;
    });
    assert.deepEqual(left, { instances: [], hostnames: [] });
  });
});

describe('local runtime: restart and reconciliation', { timeout: 180_000 }, () => {
  it('a restarted runtime keeps serving a ready workspace and terminates instances no record owns', async () => {
    // Prepare: a ready workspace, then the runtime goes away without stopping anything
    const first = await startTestRuntime();
    const alice = await signIn(first, 'alice');
    const ready = await openUntilReady(first, alice, 'demo');
    await first.runtime.close();
    // ...and a stray instance appears that no record owns (as after a crash between launch and record)
    const second = await startTestRuntime({}, first.dataDir);
    try {
      const stray = await second.runtime.compute.launch({
        workspace: { ...(await second.runtime.deps.store.get({ analysisId: 'demo', userId: 'alice' }))!, generation: 99, hostLabel: 'ws-straystraystray0' },
        clientToken: 'stray-token',
        home: { homeId: join(first.dataDir, 'homes', 'demo', 'alice'), created: false },
        tags: { 'carrel:deployment': 'local', 'carrel:analysis': 'demo', 'carrel:user': 'alice', 'carrel:workspace': 'x', 'carrel:generation': '99' },
      });
      await waitFor('the stray to run', async () => ((await second.runtime.compute.listTagged()).find((i) => i.instanceId === stray.instanceId)?.state === 'running' ? true : undefined));

      // Act: the same data folder, a new runtime on a new port
      const status = (await call(second.port, second.desk, 'GET', '/api/workspaces/demo', { jar: await signIn(second, 'alice') })).json();
      const report = (await second.runtime.housekeeping()) as { orphanInstances: string[] };

      // Assess: the workspace is still ready and served; the stray is gone, the owned one kept
      assert.equal(status.state, 'ready');
      assert.equal(status.workspaceId, ready.workspaceId);
      assert.deepEqual(report.orphanInstances, [stray.instanceId]);
      const owner = await second.runtime.deps.store.get({ analysisId: 'demo', userId: 'alice' });
      const left = await second.runtime.compute.listTagged();
      assert.deepEqual(left.map((i) => i.instanceId), [owner?.instanceId]);
    } finally {
      await second.close();
    }
  });
});
