import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputeEvent, ComputePort, InstanceView, LaunchRequest, Log, Workspace } from '../lambdas/core/index.js';
import { readJson, writeFileAtomic } from './files.js';
import { jupyterLaunch } from './jupyter.js';
import { freePort, isAlive, killGroups, readPidFile, spawnDetached, tail } from './processes.js';

/** How the local "instance" is started: the tool and the gate as two detached processes. */
export interface LocalComputeOptions {
  /** Folder holding one sub-folder per instance (meta.json, logs, runtime files). */
  readonly dataDir: string;
  readonly deskDomain: string;
  /** Bundled gate (dist/gate/gate.mjs), run with this Node. */
  readonly gateBundle: string;
  readonly deskOrigin: string;
  /** Where gates report activity (the desk's /api/agent/activity). */
  readonly activityUrl: string;
  readonly publicKeyPem: () => Promise<string>;
  readonly agentTokenFor: (ws: Workspace) => Promise<string>;
  /** The Jupyter Notebook command (Debian: jupyter-notebook). */
  readonly jupyterCommand: string;
  readonly toolStartTimeoutMs: number;
  readonly gateReportSeconds: number;
  readonly log: Log;
}

interface InstanceMeta {
  readonly instanceId: string;
  readonly clientToken: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly home: string;
  state: InstanceView['state'];
  /** The record the boot works for: a runtime restarted during a boot finishes it from here. */
  workspace?: Workspace;
  toolPid?: number;
  gatePid?: number;
  gatePort?: number;
  /** When the running boot spawned its processes (its tool-start deadline counts from here). */
  bootStartedAt?: string;
  /** `tool-ready` was reported for this boot. */
  toolReady?: boolean;
}

/** Files in the instance folder where the tool and the gate write their own pids (see spawnDetached). */
const PID_FILES = ['tool.pid', 'gate.pid'] as const;

type EventSink = (event: ComputeEvent, tags: Readonly<Record<string, string>>) => Promise<void>;

/**
 * Local compute: each instance is Jupyter Notebook plus the gate, as detached processes whose state
 * is persisted under the data folder, so a restarted runtime can find (and reconcile) them.
 * Progress is reported through the event sink, like EventBridge state-change events on AWS.
 */
export class LocalCompute implements ComputePort {
  private sink: EventSink = async () => undefined;
  private readonly children = new Map<string, ChildProcess[]>();
  private readonly expectedExit = new Set<string>();
  /** Instances terminated while their boot was still running: their state must not be written back. */
  private readonly terminated = new Set<string>();
  /** Instances with a boot or a stop running in this process: supervise() leaves them alone. */
  private readonly inFlight = new Set<string>();
  private readonly root: string;

  constructor(private readonly options: LocalComputeOptions) {
    this.root = join(options.dataDir, 'compute');
  }

  onEvent(sink: EventSink): void {
    this.sink = sink;
  }

  async launch(request: LaunchRequest): Promise<{ instanceId: string }> {
    const instanceId = `i-local-${createHash('sha256').update(request.clientToken).digest('hex').slice(0, 16)}`;
    const existing = await this.meta(instanceId);
    if (existing) return { instanceId }; // idempotent: the same token never launches twice
    const meta: InstanceMeta = { instanceId, clientToken: request.clientToken, tags: request.tags, home: request.home.homeId, state: 'pending', workspace: request.workspace };
    this.inFlight.add(instanceId);
    await mkdir(this.dir(instanceId), { recursive: true, mode: 0o700 });
    await this.save(meta);
    setImmediate(() => void this.boot(meta, request.workspace));
    return { instanceId };
  }

  async start(instanceId: string, workspace: Workspace): Promise<void> {
    const meta = await this.meta(instanceId);
    if (!meta) throw new Error(`No local instance ${instanceId}`);
    if (meta.state === 'running' || meta.state === 'pending') return;
    const tags = { ...meta.tags, 'carrel:generation': String(workspace.generation) };
    const resumed: InstanceMeta = { ...meta, tags, state: 'pending', workspace };
    this.inFlight.add(instanceId);
    await this.save(resumed);
    setImmediate(() => void this.boot(resumed, workspace));
  }

  async stop(instanceId: string): Promise<void> {
    const meta = await this.meta(instanceId);
    if (!meta) throw new Error(`No local instance ${instanceId}`);
    const mine = !this.inFlight.has(instanceId); // a boot in flight keeps its own mark
    if (mine) this.inFlight.add(instanceId);
    try {
      meta.state = 'stopping';
      await this.save(meta);
      await this.halt(meta);
      await this.emit({ kind: 'stopped', instanceId }, meta.tags);
    } finally {
      if (mine) this.inFlight.delete(instanceId);
    }
  }

  async terminate(instanceId: string): Promise<void> {
    const meta = await this.meta(instanceId);
    if (!meta) return;
    this.terminated.add(instanceId);
    await this.kill(meta);
    await rm(this.dir(instanceId), { recursive: true, force: true });
    await this.emit({ kind: 'terminated', instanceId }, meta.tags);
  }

  async listTagged(): Promise<readonly InstanceView[]> {
    const ids = await readdir(this.root).catch(() => [] as string[]);
    const views: InstanceView[] = [];
    for (const id of ids.filter((name) => /^i-local-[0-9a-f]{16}$/.test(name))) {
      const meta = await this.meta(id);
      if (meta) views.push({ instanceId: meta.instanceId, state: this.liveState(meta), tags: meta.tags });
    }
    return views;
  }

  /**
   * Take over instances this process is not watching (after a restart, even a kill -9, the runtime
   * did not start them and has no boot or stop running for them):
   * - running, but its processes died: reported as failed, so the record does not stay ready forever;
   * - running, tool not reported ready (the boot that would have was killed): the gate's health is
   *   probed; healthy → `tool-ready` (with the address, so a record still `starting` completes too);
   *   past the tool-start deadline → ended and reported as failed;
   * - pending (killed before or while spawning): whatever it spawned is ended, and the boot runs again;
   * - stopping (killed during a stop): the stop is completed.
   */
  async supervise(): Promise<void> {
    for (const view of await this.listTagged()) {
      const meta = await this.meta(view.instanceId);
      if (!meta || this.inFlight.has(meta.instanceId) || this.children.has(meta.instanceId)) continue;
      try {
        await this.takeOver(meta);
      } catch (error) {
        this.options.log.error('could not take over a local instance', { instanceId: meta.instanceId, error: String(error) });
      }
    }
  }

  private async takeOver(meta: InstanceMeta) {
    const fail = async (reason: string) => {
      await this.halt(meta);
      await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason }, meta.tags);
    };
    switch (meta.state) {
      case 'running': {
        if (!isAlive(meta.toolPid) || !isAlive(meta.gatePid)) return fail('Jupyter stopped unexpectedly');
        if (meta.toolReady) return;
        if (meta.gatePort && (await this.healthy(meta.gatePort))) {
          this.options.log.info('adopted a local instance whose boot was interrupted', { instanceId: meta.instanceId });
          // Report first, then remember: a kill in between only means reporting it again.
          await this.emit({ kind: 'tool-ready', instanceId: meta.instanceId, address: `127.0.0.1:${meta.gatePort}` }, meta.tags);
          await this.markToolReady(meta);
          return;
        }
        const startedAt = Date.parse(meta.bootStartedAt ?? '') || 0;
        if (Date.now() - startedAt > this.options.toolStartTimeoutMs) {
          return fail(`Jupyter did not answer within ${Math.round(this.options.toolStartTimeoutMs / 1000)} s`);
        }
        return;
      }
      case 'pending': {
        await this.kill(meta); // what a boot killed mid-spawn left running (its pid files name it)
        if (!meta.workspace) return fail('The local runtime stopped while the workspace was starting');
        this.options.log.info('restarting the boot of a local instance', { instanceId: meta.instanceId });
        this.inFlight.add(meta.instanceId);
        void this.boot(meta, meta.workspace);
        return;
      }
      case 'stopping': {
        await this.halt(meta);
        await this.emit({ kind: 'stopped', instanceId: meta.instanceId }, meta.tags);
        return;
      }
      default:
        return;
    }
  }

  /** Stop watching child processes (the processes themselves keep running, as on a real host). */
  detach(): void {
    for (const children of this.children.values()) for (const child of children) child.removeAllListeners('exit');
    this.children.clear();
  }

  private async boot(meta: InstanceMeta, ws: Workspace) {
    try {
      await this.spawnProcesses(meta, ws);
    } catch (error) {
      if (this.terminated.has(meta.instanceId)) return;
      await this.halt(meta).catch(() => undefined);
      await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason: error instanceof Error ? error.message : String(error) }, meta.tags);
    } finally {
      this.inFlight.delete(meta.instanceId);
    }
  }

  private async spawnProcesses(meta: InstanceMeta, ws: Workspace) {
    if (this.terminated.has(meta.instanceId)) return;
    const dir = this.dir(meta.instanceId);
    const [toolPort, gatePort] = [await freePort(), await freePort()];
    const toolToken = randomBytes(24).toString('hex');
    const hostname = `${ws.hostLabel}.${this.options.deskDomain}`;
    await mkdir(join(dir, 'runtime'), { recursive: true, mode: 0o700 });

    const { args, env: toolEnv } = jupyterLaunch({ port: toolPort, notebookDir: meta.home, token: toolToken, stateDir: dir });
    this.expectedExit.delete(meta.instanceId);
    const tool = spawnDetached(this.options.jupyterCommand, args, { cwd: meta.home, env: toolEnv, logFile: join(dir, 'tool.log'), pidFile: join(dir, 'tool.pid') });
    const toolFailure = new Promise<string>((resolve) => {
      tool.once('error', (error) => resolve(`Jupyter could not be started: ${error.message}`));
      tool.once('exit', async (code, signal) => {
        const last = await tail(join(dir, 'tool.log'), 3);
        resolve(`Jupyter exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`);
      });
    });
    const gate = spawnDetached(process.execPath, [this.options.gateBundle], {
      cwd: dir,
      logFile: join(dir, 'gate.log'),
      pidFile: join(dir, 'gate.pid'),
      env: {
        PATH: process.env.PATH,
        CARREL_GATE_PORT: String(gatePort),
        CARREL_GATE_LISTEN_HOST: '127.0.0.1',
        CARREL_GATE_HOSTNAME: hostname,
        CARREL_GATE_HOST_LABEL: ws.hostLabel,
        CARREL_GATE_PUBLIC_KEY: await this.options.publicKeyPem(),
        CARREL_GATE_UPSTREAM: `http://127.0.0.1:${toolPort}`,
        CARREL_GATE_UPSTREAM_AUTH: `token ${toolToken}`,
        CARREL_GATE_DESK_ORIGIN: this.options.deskOrigin,
        CARREL_GATE_ACTIVITY_URL: this.options.activityUrl,
        CARREL_GATE_AGENT_TOKEN: await this.options.agentTokenFor(ws),
        CARREL_GATE_REPORT_SECONDS: String(this.options.gateReportSeconds),
        CARREL_GATE_BUSY_PROBE: 'jupyter',
      },
    });
    if (this.terminated.has(meta.instanceId)) {
      await killGroups([tool.pid, gate.pid]);
      return;
    }
    this.children.set(meta.instanceId, [tool, gate]);
    meta.toolPid = tool.pid;
    meta.gatePid = gate.pid;
    meta.gatePort = gatePort;
    meta.state = 'running';
    meta.bootStartedAt = new Date().toISOString();
    meta.toolReady = false;
    await this.save(meta);
    await this.emit({ kind: 'running', instanceId: meta.instanceId, address: `127.0.0.1:${gatePort}` }, meta.tags);

    const giveUp = new AbortController();
    const outcome = await Promise.race([
      this.waitHealthy(gatePort, giveUp.signal).then((ok) => (ok ? 'ready' : `Jupyter did not answer within ${Math.round(this.options.toolStartTimeoutMs / 1000)} s`)),
      toolFailure,
    ]).finally(() => giveUp.abort());
    if (outcome !== 'ready') throw new Error(outcome);
    await this.emit({ kind: 'tool-ready', instanceId: meta.instanceId }, meta.tags);
    await this.markToolReady(meta);

    // After ready, an exit nobody asked for is a failure the researcher must see.
    void toolFailure.then(async (reason) => {
      if (this.expectedExit.has(meta.instanceId)) return;
      const current = await this.meta(meta.instanceId);
      if (current?.state !== 'running') return;
      await this.halt(current);
      await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason }, meta.tags);
    });
  }

  private async waitHealthy(gatePort: number, signal: AbortSignal): Promise<boolean> {
    const until = Date.now() + this.options.toolStartTimeoutMs;
    while (Date.now() < until && !signal.aborted) {
      if (await this.healthy(gatePort)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** The gate says the tool answers. */
  private async healthy(gatePort: number): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${gatePort}/__carrel/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false; // not up (yet)
    }
  }

  /**
   * End the instance's processes: the recorded pids and those the processes wrote themselves (a boot
   * killed between spawning and recording leaves only the latter), then forget them all.
   */
  private async kill(meta: InstanceMeta) {
    this.expectedExit.add(meta.instanceId);
    this.children.delete(meta.instanceId);
    const dir = this.dir(meta.instanceId);
    const written = await Promise.all(PID_FILES.map((file) => readPidFile(join(dir, file))));
    await killGroups([...new Set([meta.toolPid, meta.gatePid, ...written])]);
    await Promise.all(PID_FILES.map((file) => rm(join(dir, file), { force: true })));
  }

  /** Remember that this boot's tool was reported ready, unless a stop or another boot came since. */
  private async markToolReady(boot: InstanceMeta) {
    const current = await this.meta(boot.instanceId);
    if (current?.state !== 'running' || current.bootStartedAt !== boot.bootStartedAt) return;
    current.toolReady = true;
    await this.save(current);
  }

  /** Kill and record the instance as stopped (its folder and home stay, for a resume). */
  private async halt(meta: InstanceMeta) {
    await this.kill(meta);
    meta.state = 'stopped';
    meta.toolPid = meta.gatePid = meta.gatePort = meta.bootStartedAt = meta.toolReady = undefined;
    await this.save(meta);
  }

  private liveState(meta: InstanceMeta): InstanceView['state'] {
    if (meta.state === 'running' && !isAlive(meta.toolPid) && !isAlive(meta.gatePid)) return 'stopped';
    return meta.state;
  }

  private async emit(event: ComputeEvent, tags: Readonly<Record<string, string>>) {
    try {
      await this.sink(event, tags);
    } catch (error) {
      this.options.log.error('compute event handling failed', { kind: event.kind, instanceId: event.instanceId, error: String(error) });
    }
  }

  private dir(instanceId: string) {
    if (!/^i-local-[0-9a-f]{16}$/.test(instanceId)) throw new Error(`Not a local instance id: ${instanceId}`);
    return join(this.root, instanceId);
  }

  private meta(instanceId: string) {
    return readJson<InstanceMeta>(join(this.dir(instanceId), 'meta.json')).catch(() => undefined);
  }

  private async save(meta: InstanceMeta) {
    if (this.terminated.has(meta.instanceId)) return;
    return writeFileAtomic(join(this.dir(meta.instanceId), 'meta.json'), JSON.stringify(meta, null, 2));
  }
}
