/**
 * The local runtime survives `kill -9`. The real `local/main.ts` runs as a child process on a temp data
 * folder; the runtime process alone is killed (workspaces are detached, as instances outlive a Lambda)
 * and started again on the same data folder and the same port.
 *
 * A. A ready workspace: after the restart it is still ready with the same id, the saved file answers
 *    through the same host, sessions and sign-in work; stopping it then ends every process of the
 *    instance (Jupyter, the gate, and the kernels Jupyter started in their own sessions). If the adopted
 *    Jupyter dies, the workspace fails with a reason and its gate is ended.
 * B. A launch interrupted by the kill: right after open returns; once the instance is written down but
 *    before it records processes; mid-spawn (runtime frozen when Jupyter wrote its pid file); after the
 *    processes started but before Jupyter answered (adopted); with a tool that never answers (failed
 *    past the start deadline). Within a few housekeeping passes the workspace is ready or failed with a
 *    reason, it stays so, and no process of an instance that no record owns is left.
 *
 * Processes are found without trusting the code under test: by scanning /proc for processes whose
 * working directory or environment names an instance folder (kernels inherit Jupyter's environment).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, CookieJar, waitFor } from '../support/http.js';
import { signInThroughIdp } from '../support/sign-in.js';
import { freePort } from '../../local/processes.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MAIN = join(REPO, 'local', 'main.ts');
const TSX = import.meta.resolve('tsx');
const DESK = 'app.localhost';
const HOUSEKEEPING_SECONDS = 1;

// ---------------------------------------------------------------------------------------------------
// Processes, seen through /proc (Linux)

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
  readonly command: string;
  /** The instance folder the process belongs to (by its working directory or environment). */
  readonly instanceId?: string;
}

function readProc(pid: number): Proc | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
  const close = stat.lastIndexOf(')');
  const [state, ppid] = stat.slice(close + 2).split(' ');
  return { pid, ppid: Number(ppid), state, command: stat.slice(stat.indexOf('(') + 1, close) };
}

/** Running: present and not a zombie (orphans here are re-parented to a PID 1 that does not reap them). */
function running(pid: number | undefined): boolean {
  if (!pid) return false;
  const proc = readProc(pid);
  return proc !== undefined && proc.state !== 'Z' && proc.state !== 'X';
}

/** Every running process that belongs to an instance under `dataDir`/compute. */
function instanceProcesses(dataDir: string): Proc[] {
  const computeRoot = join(dataDir, 'compute');
  const pattern = new RegExp(`${computeRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(i-local-[0-9a-f]{16})`);
  const found: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const proc = readProc(Number(name));
    if (!proc || proc.state === 'Z' || proc.state === 'X') continue;
    let where = '';
    try {
      where = readlinkSync(`/proc/${name}/cwd`);
    } catch {
      /* gone or not ours */
    }
    try {
      where += `\n${readFileSync(`/proc/${name}/environ`, 'utf8').replaceAll('\0', '\n')}`;
    } catch {
      /* gone or not ours */
    }
    const match = pattern.exec(where);
    if (match) found.push({ ...proc, instanceId: match[1] });
  }
  return found;
}

/** Every running process and all its descendants. */
function withDescendants(roots: readonly number[]): Set<number> {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((p): p is Proc => p !== undefined && p.state !== 'Z');
  const tree = new Set(roots.filter((pid) => running(pid)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return tree;
}

interface Meta {
  readonly instanceId: string;
  readonly state: string;
  readonly tags: Record<string, string>;
  readonly toolPid?: number;
  readonly gatePid?: number;
  readonly gatePort?: number;
}

function readMetas(dataDir: string): Meta[] {
  const root = join(dataDir, 'compute');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((id) => join(root, id, 'meta.json'))
    .filter((file) => existsSync(file))
    .map((file) => JSON.parse(readFileSync(file, 'utf8')) as Meta);
}

function describeProcs(procs: readonly Proc[]): string {
  return procs.map((p) => `${p.pid} ${p.command} (${p.instanceId})`).join(', ') || 'none';
}

// ---------------------------------------------------------------------------------------------------
// A "site": one data folder and one port, on which runtimes are started and killed in turn

const sites: Site[] = [];

class Site {
  readonly root = mkdtempSync(join(tmpdir(), 'carrel-kill-'));
  readonly dataDir = join(this.root, 'data');
  /** main.ts builds the front desk and the gate under its working folder: keep that out of the repo. */
  private readonly workDir = join(this.root, 'work');
  private readonly children: ChildProcess[] = [];
  private current?: { child: ChildProcess; exited: Promise<string> };
  readonly jar = new CookieJar();

  private constructor(readonly port: number, private readonly env: Record<string, string>) {
    mkdirSync(this.workDir);
    sites.push(this);
  }

  static async create(env: Record<string, string> = {}): Promise<Site> {
    return new Site(await freePort(), env);
  }

  /** Start `local/main.ts` and wait until it serves (the local sign-in answers). */
  async start(): Promise<void> {
    assert.equal(this.current, undefined, 'a runtime is already running on this site');
    const logFile = join(this.root, `runtime-${this.children.length + 1}.log`);
    const log = openSync(logFile, 'a');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(this.port),
      CARREL_DATA_DIR: this.dataDir,
      CARREL_HOUSEKEEPING_SECONDS: String(HOUSEKEEPING_SECONDS),
      CARREL_GATE_REPORT_SECONDS: '1',
      TSX_TSCONFIG_PATH: join(REPO, 'tsconfig.json'),
      ...this.env,
    };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, ['--import', TSX, MAIN], { cwd: this.workDir, env, stdio: ['ignore', log, log] });
    closeSync(log);
    this.children.push(child);
    const exited = new Promise<string>((ok) => child.once('exit', (code, signal) => ok(signal ?? `code ${code}`)));
    this.current = { child, exited };
    const serving = waitFor(
      'the runtime to serve',
      async () => ((await signInThroughIdp(this.port, DESK, 'alice', { jar: this.jar })) ? true : undefined),
      60_000,
      100,
    );
    const died = exited.then(async (how) => {
      throw new Error(`the runtime exited (${how}) before serving:\n${await readFile(logFile, 'utf8')}`);
    });
    await Promise.race([serving, died]);
    died.catch(() => undefined);
  }

  /** The end of the current runtime's log, to explain a failure. */
  logTail(lines = 15): string {
    const file = join(this.root, `runtime-${this.children.length}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
  }

  /** SIGSTOP the runtime: it does no more work until it is killed. */
  freeze(): void {
    assert.ok(this.current, 'no runtime to freeze');
    this.current.child.kill('SIGSTOP');
  }

  /** kill -9 the runtime process (only it: workspaces are detached and keep running). */
  async kill(): Promise<void> {
    const current = this.current;
    assert.ok(current, 'no runtime to kill');
    current.child.kill('SIGKILL');
    assert.equal(await current.exited, 'SIGKILL');
    this.current = undefined;
  }

  async status(): Promise<any> {
    const reply = await call(this.port, DESK, 'GET', '/api/workspaces/demo', { jar: this.jar });
    assert.equal(reply.status, 200, reply.body);
    return reply.json();
  }

  async open(): Promise<any> {
    const reply = await call(this.port, DESK, 'POST', '/api/workspaces/demo/open', { jar: this.jar });
    assert.equal(reply.status, 200, reply.body);
    return reply.json();
  }

  /** Poll the status until it is settled (ready or failed). */
  async settled(timeoutMs = 30_000): Promise<any> {
    let last: unknown;
    return waitFor('the workspace to be ready or failed', async () => {
      const view = (last = await this.status());
      return view.state === 'ready' || view.state === 'failed' ? view : undefined;
    }, timeoutMs, 100).catch((error) => {
      throw new Error(`${error.message}; last seen ${JSON.stringify(last)}; runtime log:\n${this.logTail()}`);
    });
  }

  async stop(): Promise<any> {
    const reply = await call(this.port, DESK, 'POST', '/api/workspaces/demo/stop', { jar: this.jar });
    assert.equal(reply.status, 200, reply.body);
    return waitFor('the workspace to be stopped', async () => {
      const view = await this.status();
      return view.state === 'stopped' ? view : undefined;
    }, 30_000, 100);
  }

  /** Let `n` housekeeping passes run. */
  async passes(n: number): Promise<void> {
    await new Promise((r) => setTimeout(r, n * HOUSEKEEPING_SECONDS * 1000 + 300));
  }

  /**
   * Kill everything this site started, whatever state the test left it in: the runtimes (waiting for
   * them to end, so that none spawns anything more), then every process of every instance, then the folder.
   */
  async cleanUp(): Promise<void> {
    const live = this.children.filter((child) => child.exitCode === null && child.signalCode === null);
    const ended = live.map((child) => new Promise((ok) => child.once('exit', ok)));
    for (const child of live) child.kill('SIGKILL');
    await Promise.race([Promise.all(ended), new Promise((ok) => setTimeout(ok, 5_000))]);
    this.cleanUpNow();
  }

  /**
   * The synchronous part (also the last resort when the test process exits): SIGKILL the runtimes and
   * every process of every instance, found in /proc by their instance folder; the tool and gate pids
   * that meta.json records are among them while they run (a pid from meta.json alone is not killed: it
   * may belong to another process by now).
   */
  cleanUpNow(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const proc of instanceProcesses(this.dataDir)) {
      for (const target of [-proc.pid, proc.pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    }
    if (!process.env.CARREL_KEEP_TEST_DATA) rmSync(this.root, { recursive: true, force: true });
  }
}

after(async () => {
  for (const site of sites.splice(0)) await site.cleanUp();
});
process.once('exit', () => {
  for (const site of sites.splice(0)) site.cleanUpNow();
});

/**
 * No process of an instance that no record owns: every running instance process is the tool or gate
 * recorded in the meta.json of the instance the record's hostname routes to, or a descendant of them.
 */
function assertOnlyOwnedProcesses(site: Site, view: { state: string; hostname?: string; workspaceId: string }) {
  const procs = instanceProcesses(site.dataDir);
  if (view.state !== 'ready') {
    assert.deepEqual(procs, [], `nothing may run for a ${view.state} workspace, found: ${describeProcs(procs)}`);
    return;
  }
  const dns = JSON.parse(readFileSync(join(site.dataDir, 'dns.json'), 'utf8')) as Record<string, string>;
  const address = dns[view.hostname!];
  const owned = readMetas(site.dataDir).filter((m) => m.state === 'running' && `127.0.0.1:${m.gatePort}` === address);
  assert.equal(owned.length, 1, `exactly one running instance behind ${view.hostname} (${address})`);
  assert.equal(owned[0].tags['carrel:workspace'], view.workspaceId);
  const allowed = withDescendants([owned[0].toolPid!, owned[0].gatePid!]);
  assert.ok(running(owned[0].toolPid) && running(owned[0].gatePid), 'the owned instance runs its tool and gate');
  const strays = procs.filter((p) => !allowed.has(p.pid));
  assert.deepEqual(strays, [], `processes no record owns: ${describeProcs(strays)}`);
}

const onLinux = existsSync('/proc/self/stat');

// ---------------------------------------------------------------------------------------------------

describe('kill -9 and restart: a ready workspace', { timeout: 180_000, skip: !onLinux && 'needs /proc' }, () => {
  it('is still ready, serves the saved file on the same host, and stopping it ends all its processes', async () => {
    // Prepare: a ready workspace with a saved file and a running kernel
    const site = await Site.create();
    await site.start();
    await site.open();
    const ready = await site.settled();
    assert.equal(ready.state, 'ready', ready.reason);
    const host = new URL(ready.url).hostname;
    const saved = await call(site.port, host, 'PUT', '/api/contents/kept.txt', { jar: site.jar, body: { type: 'file', format: 'text', content: 'survives kill -9' } });
    assert.ok(saved.status === 200 || saved.status === 201, saved.body);
    const kernel = await call(site.port, host, 'POST', '/api/kernels', { jar: site.jar, body: { name: 'python3' } });
    assert.equal(kernel.status, 201, kernel.body);
    const [meta] = readMetas(site.dataDir);
    const kernels = await waitFor('the kernel process', async () => {
      const children = instanceProcesses(site.dataDir).filter((p) => p.ppid === meta.toolPid);
      return children.length ? children.map((p) => p.pid) : undefined;
    });
    const sessionBefore = site.jar.header();

    // Act: kill -9 the runtime, start it again on the same data folder and port
    await site.kill();
    const survived = [meta.toolPid!, meta.gatePid!, ...kernels].filter((pid) => running(pid));
    await site.start();
    await site.passes(2);

    // Assess: the workspace outlived the runtime, and the new runtime serves it as it was
    assert.equal(survived.length, 2 + kernels.length, 'the workspace processes outlive the runtime');
    const old = await call(site.port, DESK, 'GET', '/api/workspaces/demo', { headers: { cookie: sessionBefore } });
    assert.equal(old.status, 200, 'a session from before the restart is still valid');
    const status = await site.status();
    assert.equal(status.state, 'ready', status.reason);
    assert.equal(status.workspaceId, ready.workspaceId);
    assert.equal(status.hostname, ready.hostname);
    const file = await call(site.port, host, 'GET', '/api/contents/kept.txt?content=1', { jar: site.jar });
    assert.equal(file.status, 200, file.body);
    assert.equal(file.json().content, 'survives kill -9');
    assert.deepEqual(readMetas(site.dataDir).map((m) => [m.toolPid, m.gatePid]), [[meta.toolPid, meta.gatePid]], 'the same processes, not a relaunch');
    assertOnlyOwnedProcesses(site, status);

    // Act: stop the workspace through the API (the new runtime did not start its processes)
    const stopped = await site.stop();

    // Assess: Jupyter, the gate and the kernel are gone; nothing of the instance runs
    assert.equal(stopped.workspaceId, ready.workspaceId);
    const left = await waitFor('the instance processes to end', async () => {
      const procs = [meta.toolPid!, meta.gatePid!, ...kernels].filter((pid) => running(pid));
      return procs.length === 0 && instanceProcesses(site.dataDir).length === 0 ? procs : undefined;
    }, 10_000).catch(() => [meta.toolPid!, meta.gatePid!, ...kernels].filter((pid) => running(pid)));
    assert.deepEqual(left, [], `still running after the stop: ${describeProcs(instanceProcesses(site.dataDir))}`);
    assert.deepEqual(instanceProcesses(site.dataDir), []);
    await site.kill();
  });

  it('notices when an adopted Jupyter dies: failed with a reason, its gate ended', async () => {
    // Prepare: a ready workspace, adopted by a restarted runtime
    const site = await Site.create();
    await site.start();
    await site.open();
    const ready = await site.settled();
    assert.equal(ready.state, 'ready', ready.reason);
    const [meta] = readMetas(site.dataDir);
    await site.kill();
    await site.start();

    // Act: Jupyter dies (its parent is gone: it lingers as a zombie nobody reaps)
    process.kill(meta.toolPid!, 'SIGKILL');
    let last: unknown;
    const failed = await waitFor('the workspace to fail', async () => {
      const view = (last = await site.status());
      return view.state === 'failed' ? view : undefined;
    }, 20_000).catch((error) => {
      throw new Error(`${error.message}; last seen ${JSON.stringify(last)}; runtime log:\n${site.logTail()}`);
    });

    // Assess: the researcher sees why; nothing of the instance runs
    assert.equal(failed.workspaceId, ready.workspaceId);
    assert.match(failed.reason, /Jupyter/);
    assert.equal(running(meta.gatePid), false);
    assert.deepEqual(instanceProcesses(site.dataDir), []);
    await site.kill();
  });
});

/** Wait, yielding, until `probe` holds (polled as fast as the event loop turns, to kill at a precise moment). */
async function spin(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function instanceFileExists(dataDir: string, file: string): boolean {
  const root = join(dataDir, 'compute');
  return existsSync(root) && readdirSync(root).some((id) => existsSync(join(root, id, file)));
}

/**
 * Start the runtime again after a kill during the launch and assess the outcome: within a few
 * housekeeping passes the workspace is ready (Jupyter answers through the gate) or failed with a
 * reason; it stays so; only processes of the instance its record owns run; a stop ends them all.
 */
async function restartAndAssess(site: Site, t: { diagnostic(message: string): void }, workspaceId: string | undefined): Promise<any> {
  await site.start();
  return assessSettled(site, t, await site.settled(HOUSEKEEPING_SECONDS * 1000 * 3 + 20_000), workspaceId);
}

async function assessSettled(site: Site, t: { diagnostic(message: string): void }, view: any, workspaceId: string | undefined): Promise<any> {
  await site.passes(2);
  t.diagnostic(`after the restart: ${view.state}${view.reason ? ` (${view.reason})` : ''}`);
  if (workspaceId) assert.equal(view.workspaceId, workspaceId);
  if (view.state === 'failed') assert.ok(view.reason, 'a failed workspace says why');
  const now = await site.status();
  assert.equal(now.state, view.state, 'the settled state holds over later housekeeping passes');
  assertOnlyOwnedProcesses(site, now);
  if (now.state === 'ready') {
    const answer = await call(site.port, new URL(now.url).hostname, 'GET', '/api/status', { jar: site.jar });
    assert.equal(answer.status, 200, answer.body);
    await site.stop();
    assert.deepEqual(instanceProcesses(site.dataDir), [], 'the stop ends every process of the instance');
  }
  return now;
}

describe('kill -9 and restart: an interrupted launch', { timeout: 300_000, skip: !onLinux && 'needs /proc' }, () => {
  it('killed right after open returns: completed or failed, nothing stray', async (t) => {
    // Prepare
    const site = await Site.create();
    await site.start();

    // Act: open, and kill the runtime the moment the answer arrives (during the launch)
    const opened = await site.open();
    await site.kill();
    t.diagnostic(`at the kill: record ${opened.state}, instances ${JSON.stringify(readMetas(site.dataDir).map((m) => m.state))}, processes: ${describeProcs(instanceProcesses(site.dataDir))}`);

    // Assess
    assert.notEqual(opened.state, 'ready', 'the kill came before the launch finished');
    await restartAndAssess(site, t, opened.workspaceId);
    await site.kill();
  });

  it('killed once the instance is written down, before it records any process: the boot runs again', async (t) => {
    // Prepare
    const site = await Site.create();
    await site.start();

    // Act: open, and kill the runtime as soon as the compute adapter has written the instance down
    const opening = site.open().then(
      () => 'answered',
      () => 'cut off',
    );
    await spin('the instance to be written down', () => instanceFileExists(site.dataDir, 'meta.json'));
    await site.kill();
    const atKill = readMetas(site.dataDir);
    t.diagnostic(`at the kill: open ${await opening}, instances ${JSON.stringify(atKill.map((m) => m.state))}, processes: ${describeProcs(instanceProcesses(site.dataDir))}`);

    // Assess: nothing was running at the kill; after the restart the launch completes
    assert.deepEqual(atKill.map((m) => m.state), ['pending']);
    const view = await restartAndAssess(site, t, undefined);
    assert.equal(view.state, 'ready', view.reason);
    await site.kill();
  });

  it('killed mid-spawn, before the instance records its processes: those are ended, the boot runs again', async (t) => {
    // Act: open; when Jupyter has written its pid file, freeze the runtime (before it records the pids) and
    // kill it. The window is a few milliseconds: when the runtime was faster, try again on a fresh site.
    let site: Site;
    let atKill: Meta;
    let unrecorded: number[];
    for (let attempt = 1; ; attempt++) {
      site = await Site.create();
      await site.start();
      const opening = site.open().catch(() => undefined);
      await spin('the tool to write its pid', () => instanceFileExists(site.dataDir, 'tool.pid'));
      site.freeze();
      [atKill] = readMetas(site.dataDir);
      unrecorded = instanceProcesses(site.dataDir).map((p) => p.pid);
      await site.kill();
      await opening;
      t.diagnostic(`attempt ${attempt}, at the kill: instance ${atKill.state}, toolPid ${atKill.toolPid}, processes ${unrecorded.join(', ')}`);
      if (atKill.state === 'pending' || attempt === 5) break;
      await site.cleanUp();
    }

    // Assess: the processes of the interrupted boot are gone; the workspace completes on new ones
    assert.equal(atKill.state, 'pending', 'the runtime was stopped before it recorded the processes');
    assert.equal(atKill.toolPid, undefined);
    assert.ok(unrecorded.length >= 1, 'Jupyter had been spawned');
    const view = await restartAndAssess(site, t, undefined);
    assert.equal(view.state, 'ready', view.reason);
    assert.deepEqual(unrecorded.filter((pid) => running(pid)), [], 'the unrecorded processes were ended');
    await site.kill();
  });

  it('killed after the processes started, before Jupyter answered: the restarted runtime adopts them', async (t) => {
    // Prepare
    const site = await Site.create();
    await site.start();

    // Act: open, wait until the instance's processes are recorded, and kill the runtime before the tool answers
    const opened = await site.open();
    const meta = await waitFor(
      'the instance processes to be recorded',
      async () => readMetas(site.dataDir).find((m) => m.state === 'running' && m.toolPid && m.gatePid),
      30_000,
      5,
    );
    const before = await site.status();
    await site.kill();
    await site.start();
    const view = await site.settled(HOUSEKEEPING_SECONDS * 1000 * 3 + 20_000);

    // Assess: the launch completed on the processes the killed runtime started; Jupyter answers through the gate
    assert.notEqual(before.state, 'ready', 'the kill came before Jupyter answered');
    assert.equal(view.state, 'ready', view.reason);
    assert.equal(view.workspaceId, opened.workspaceId);
    const [adopted] = readMetas(site.dataDir);
    assert.deepEqual([adopted.toolPid, adopted.gatePid], [meta.toolPid, meta.gatePid], 'adopted, not relaunched');
    await assessSettled(site, t, view, opened.workspaceId);
    await site.kill();
  });

  it('killed while a tool that never answers is starting: failed with a reason past the deadline, nothing left', async () => {
    // Prepare: a "Jupyter" that starts but never answers, and a short start deadline
    const bin = mkdtempSync(join(tmpdir(), 'carrel-silent-tool-'));
    const silent = join(bin, 'silent-jupyter');
    writeFileSync(silent, '#!/bin/sh\nexec sleep 600\n');
    chmodSync(silent, 0o755);
    const site = await Site.create({ CARREL_JUPYTER_COMMAND: silent, CARREL_TOOL_START_TIMEOUT_SECONDS: '4' });
    try {
      await site.start();

      // Act: open, kill the runtime once the processes are recorded, restart
      const opened = await site.open();
      const meta = await waitFor('the instance processes to be recorded', async () => readMetas(site.dataDir).find((m) => m.state === 'running' && m.toolPid), 30_000, 5);
      await site.kill();
      assert.ok(running(meta.toolPid), 'the silent tool outlives the runtime');
      await site.start();
      const view = await site.settled(HOUSEKEEPING_SECONDS * 1000 * 3 + 20_000);

      // Assess: failed with a reason naming Jupyter; its processes and instance are gone
      assert.equal(view.state, 'failed');
      assert.equal(view.workspaceId, opened.workspaceId);
      assert.match(view.reason, /Jupyter/);
      const left = await waitFor('the failed instance to be removed', async () => (readMetas(site.dataDir).length === 0 ? [] : undefined), 10_000).catch(() => readMetas(site.dataDir));
      assert.deepEqual(left, []);
      assert.equal(running(meta.toolPid), false);
      assert.equal(running(meta.gatePid), false);
      assert.deepEqual(instanceProcesses(site.dataDir), []);
      await site.kill();
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
