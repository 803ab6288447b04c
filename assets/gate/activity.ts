/**
 * Activity for the idle policy. The gate counts what a person does, not what an open tab does by itself:
 *  - admitted requests that change something (any method but GET, HEAD and OPTIONS);
 *  - navigations (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document | iframe`);
 *  - WebSocket data frames from the browser (control frames such as the automatic pong replies to the
 *    tool's pings are not activity).
 * Background GET polling (file lists, kernel status) is not activity.
 *
 * Every `reportSeconds`, if there was activity since the last successful report or the tool says it is
 * busy, the reporter POSTs `{traffic, busy}` to the desk with the gate's agent token. A failed report is
 * logged (never with the token) and its traffic is carried to the next tick.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { BusyProbeKind } from './config.js';
import { describeError, type Logger } from './log.js';

export type ActivityKind = 'change' | 'navigation' | 'websocket';

/** Classifies an admitted HTTP request: the kind of user activity it is, or undefined for background traffic. */
export function classifyRequest(method: string | undefined, headers: IncomingHttpHeaders): ActivityKind | undefined {
  const m = (method ?? 'GET').toUpperCase();
  if (m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS') return 'change';
  const mode = headers['sec-fetch-mode'];
  const dest = headers['sec-fetch-dest'];
  if (mode === 'navigate' || dest === 'document' || dest === 'iframe') return 'navigation';
  return undefined;
}

/** Remembers whether there was activity since the last successful report. */
export class ActivityTracker {
  private pending = false;
  private counts: Record<ActivityKind, number> = { change: 0, navigation: 0, websocket: 0 };
  private last?: Date;

  constructor(private readonly now: () => Date = () => new Date()) {}

  note(kind: ActivityKind, times = 1): void {
    if (times <= 0) return;
    this.pending = true;
    this.counts[kind] += times;
    this.last = this.now();
  }

  /** Time of the latest activity, if any since start. */
  get lastActivityAt(): Date | undefined {
    return this.last;
  }

  /** Takes the pending flag (and counts) for a report; give them back with `restore` if it fails. */
  take(): { traffic: boolean; counts: Record<ActivityKind, number> } {
    const taken = { traffic: this.pending, counts: this.counts };
    this.pending = false;
    this.counts = { change: 0, navigation: 0, websocket: 0 };
    return taken;
  }

  restore(taken: { traffic: boolean; counts: Record<ActivityKind, number> }): void {
    if (taken.traffic) this.pending = true;
    for (const kind of Object.keys(taken.counts) as ActivityKind[]) this.counts[kind] += taken.counts[kind];
  }
}

/**
 * Counts WebSocket data frames (text, binary, continuation) in one direction of a connection, fed the raw
 * bytes as they pass. Reads frame headers only; payloads are skipped without copying.
 */
export class WsFrameCounter {
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  private skip = 0;

  /** Returns how many data frames begin in this chunk. */
  feed(chunk: Buffer): number {
    let frames = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      this.header[this.headerLength++] = chunk[i++]!;
      if (this.headerLength < 2) continue;
      const b1 = this.header[1]!;
      const short = b1 & 0x7f;
      const needed = 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
      if (this.headerLength < needed) continue;
      const opcode = this.header[0]! & 0x0f;
      if (opcode <= 0x2) frames++;
      this.skip = short === 126 ? this.header.readUInt16BE(2) : short === 127 ? Number(this.header.readBigUInt64BE(2)) : short;
      this.headerLength = 0;
    }
    return frames;
  }
}

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Says whether the tool is busy (e.g. a kernel is running a cell); false when it cannot tell. */
export type BusyProbe = () => Promise<boolean>;

const kernelsSchema = z.array(z.object({ execution_state: z.string().optional() }).loose());

export function createBusyProbe(
  kind: BusyProbeKind,
  options: { upstream: URL; upstreamAuth?: string; fetch: FetchLike; log: Logger; timeoutMs?: number },
): BusyProbe {
  if (kind === 'none') return async () => false;
  const base = new URL(options.upstream);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const url = new URL('api/kernels', base);
  let failing = false;
  return async () => {
    try {
      const response = await options.fetch(url, {
        headers: { accept: 'application/json', ...(options.upstreamAuth ? { authorization: options.upstreamAuth } : {}) },
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const kernels = kernelsSchema.parse(await response.json());
      if (failing) options.log.info('busy probe answering again', { probe: kind });
      failing = false;
      return kernels.some((k) => k.execution_state === 'busy');
    } catch (error) {
      if (!failing) options.log.warn('busy probe failed; treating the tool as not busy', { probe: kind, ...describeError(error) });
      failing = true;
      return false;
    }
  };
}

export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export type ReportOutcome =
  | { readonly sent: false; readonly reason: 'idle' | 'in-progress' | 'disabled' }
  | { readonly sent: true; readonly ok: boolean; readonly traffic: boolean; readonly busy: boolean; readonly status?: number };

export interface ReporterOptions {
  readonly url: URL;
  readonly agentToken: string;
  readonly intervalMs: number;
  readonly tracker: ActivityTracker;
  readonly probe: BusyProbe;
  readonly fetch: FetchLike;
  readonly log: Logger;
  readonly timers: Timers;
  readonly timeoutMs?: number;
}

export class ActivityReporter {
  private handle: unknown;
  private running = false;
  private failures = 0;

  constructor(private readonly o: ReporterOptions) {}

  start(): void {
    if (this.handle !== undefined) return;
    this.handle = this.o.timers.setInterval(() => void this.tick(), this.o.intervalMs);
  }

  stop(): void {
    if (this.handle === undefined) return;
    this.o.timers.clearInterval(this.handle);
    this.handle = undefined;
  }

  /** One reporting round; never throws. */
  async tick(): Promise<ReportOutcome> {
    if (this.running) return { sent: false, reason: 'in-progress' };
    this.running = true;
    const taken = this.o.tracker.take();
    try {
      const busy = await this.o.probe();
      if (!taken.traffic && !busy) return { sent: false, reason: 'idle' };
      const body = { traffic: taken.traffic, busy };
      let status: number | undefined;
      try {
        const response = await this.o.fetch(this.o.url, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.o.agentToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          redirect: 'manual',
          signal: AbortSignal.timeout(this.o.timeoutMs ?? Math.min(10_000, Math.max(1_000, this.o.intervalMs / 2))),
        });
        status = response.status;
        await response.body?.cancel();
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      } catch (error) {
        this.o.tracker.restore(taken);
        this.failures++;
        const hint = status === 401 || status === 403 ? 'the desk refused the agent token' : status === 404 ? 'the desk knows no running workspace for this gate' : undefined;
        this.o.log.warn('activity report failed; will retry next tick', { ...body, status, hint, failures: this.failures, ...describeError(error) });
        return { sent: true, ok: false, ...body, status };
      }
      if (this.failures > 0) this.o.log.info('activity report delivered again', { failures: this.failures });
      this.failures = 0;
      this.o.log.info('activity reported', { ...body, changes: taken.counts.change, navigations: taken.counts.navigation, wsFrames: taken.counts.websocket });
      return { sent: true, ok: true, ...body, status };
    } finally {
      this.running = false;
    }
  }
}
