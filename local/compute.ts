import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputeEvent, ComputePort, InstanceView, LaunchRequest, Log, Workspace } from '../lambdas/core/index.js';
import { readJson, writeFileAtomic } from './files.js';
import { freePort, isAlive, killGroups, spawnDetached, tail } from './processes.js';

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
  toolPid?: number;
  gatePid?: number;
  gatePort?: number;
}

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
    const meta: InstanceMeta = { instanceId, clientToken: request.clientToken, tags: request.tags, home: request.home.homeId, state: 'pending' };
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
    const resumed: InstanceMeta = { ...meta, tags, state: 'pending' };
    await this.save(resumed);
    setImmediate(() => void this.boot(resumed, workspace));
  }

  async stop(instanceId: string): Promise<void> {
    const meta = await this.meta(instanceId);
    if (!meta) throw new Error(`No local instance ${instanceId}`);
    meta.state = 'stopping';
    await this.save(meta);
    await this.kill(meta);
    meta.state = 'stopped';
    meta.toolPid = meta.gatePid = meta.gatePort = undefined;
    await this.save(meta);
    await this.emit({ kind: 'stopped', instanceId }, meta.tags);
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
   * Look at instances this process did not start (e.g. after a restart): one whose processes died
   * while it should be running is reported as failed, so the record does not stay ready forever.
   */
  async supervise(): Promise<void> {
    for (const view of await this.listTagged()) {
      const meta = await this.meta(view.instanceId);
      if (!meta || meta.state !== 'running' || this.children.has(meta.instanceId)) continue;
      if (!isAlive(meta.toolPid) || !isAlive(meta.gatePid)) {
        await this.kill(meta);
        meta.state = 'stopped';
        await this.save(meta);
        await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason: 'Jupyter stopped unexpectedly' }, meta.tags);
      }
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
      await this.kill(meta);
      meta.state = 'stopped';
      await this.save(meta).catch(() => undefined);
      await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason: error instanceof Error ? error.message : String(error) }, meta.tags);
    }
  }

  private async spawnProcesses(meta: InstanceMeta, ws: Workspace) {
    if (this.terminated.has(meta.instanceId)) return;
    const dir = this.dir(meta.instanceId);
    const [toolPort, gatePort] = [await freePort(), await freePort()];
    const toolToken = randomBytes(24).toString('hex');
    const hostname = `${ws.hostLabel}.${this.options.deskDomain}`;
    const runtimeDir = join(dir, 'runtime');
    await mkdir(runtimeDir, { recursive: true, mode: 0o700 });

    const args = [
      '--no-browser',
      '--ip=127.0.0.1',
      `--port=${toolPort}`,
      '--port-retries=0',
      `--notebook-dir=${meta.home}`,
      `--NotebookApp.token=${toolToken}`,
      "--NotebookApp.password=''",
      // The gate, not the tool, decides who may connect; the tool sees workspace host names.
      '--NotebookApp.allow_remote_access=True',
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ];
    const toolEnv = {
      PATH: process.env.PATH,
      LANG: process.env.LANG ?? 'C.UTF-8',
      HOME: meta.home,
      JUPYTER_RUNTIME_DIR: runtimeDir,
      JUPYTER_CONFIG_DIR: join(dir, 'jupyter-config'),
      JUPYTER_DATA_DIR: join(dir, 'jupyter-data'),
      IPYTHONDIR: join(dir, 'ipython'),
    };
    this.expectedExit.delete(meta.instanceId);
    const tool = spawnDetached(this.options.jupyterCommand, args, { cwd: meta.home, env: toolEnv, logFile: join(dir, 'tool.log') });
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
    await this.save(meta);
    await this.emit({ kind: 'running', instanceId: meta.instanceId, address: `127.0.0.1:${gatePort}` }, meta.tags);

    const giveUp = new AbortController();
    const outcome = await Promise.race([
      this.waitHealthy(gatePort, giveUp.signal).then((ok) => (ok ? 'ready' : `Jupyter did not answer within ${Math.round(this.options.toolStartTimeoutMs / 1000)} s`)),
      toolFailure,
    ]).finally(() => giveUp.abort());
    if (outcome !== 'ready') throw new Error(outcome);
    await this.emit({ kind: 'tool-ready', instanceId: meta.instanceId }, meta.tags);

    // After ready, an exit nobody asked for is a failure the researcher must see.
    void toolFailure.then(async (reason) => {
      if (this.expectedExit.has(meta.instanceId)) return;
      const current = await this.meta(meta.instanceId);
      if (current?.state !== 'running') return;
      await this.kill(current);
      current.state = 'stopped';
      await this.save(current);
      await this.emit({ kind: 'failed', instanceId: meta.instanceId, reason }, meta.tags);
    });
  }

  private async waitHealthy(gatePort: number, signal: AbortSignal): Promise<boolean> {
    const until = Date.now() + this.options.toolStartTimeoutMs;
    while (Date.now() < until && !signal.aborted) {
      try {
        const response = await fetch(`http://127.0.0.1:${gatePort}/__carrel/health`, { signal: AbortSignal.timeout(1000) });
        if (response.ok) return true;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  private async kill(meta: InstanceMeta) {
    this.expectedExit.add(meta.instanceId);
    this.children.delete(meta.instanceId);
    await killGroups([meta.toolPid, meta.gatePid]);
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
