import type { ApiFailure, ApiOk, ApiResult, WorkspaceApi } from '../api.js';
import type { WorkspaceState, WorkspaceViewJson } from '../types.js';
import { clockSkewMs, serverNowMs, toLocalMs } from './clock.js';
import { idleCountdown, type IdleCountdown } from './countdown.js';
import { HeartbeatSchedule } from './heartbeat.js';
import { nextPollDelay, retryDelay } from './poll.js';

/** What the workspace page shows, apart from the view itself. */
export type Screen =
  | { readonly kind: 'loading' }
  | { readonly kind: 'workspace' }
  | { readonly kind: 'not-allowed'; readonly message: string }
  | { readonly kind: 'no-such-analysis'; readonly message: string }
  | { readonly kind: 'unavailable'; readonly message: string };

export interface SessionSnapshot {
  readonly screen: Screen;
  readonly view?: WorkspaceViewJson;
  /** The tool at `view.url` fired `load` in the iframe. */
  readonly connected: boolean;
  /** Local clock + skewMs = server clock. */
  readonly skewMs: number;
  /** Local time of the last tick (the page redraws clocks from it). */
  readonly now: number;
  /** Local time the current wait for the workspace began (for "elapsed"). */
  readonly waitStartedAt?: number;
  /** A user action in flight: buttons wait for it. */
  readonly pending?: 'open' | 'stop';
  /** "Resume" was pressed while the workspace was still stopping: open once it has stopped. */
  readonly resumeRequested: boolean;
  /** A passing problem (lost connection...), shown without leaving the page. */
  readonly notice?: string;
  readonly countdown: IdleCountdown;
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface SessionDeps {
  readonly analysisId: string;
  readonly api: WorkspaceApi;
  /** Local clock (ms). */
  readonly now: () => number;
  /** document.visibilityState === 'visible' */
  readonly isVisible: () => boolean;
  readonly timers: Timers;
  /** The session is missing or expired: go to the sign-in page. */
  readonly onUnauthenticated: () => void;
  /** How often clocks redraw and the heartbeat is considered; default 1 s. */
  readonly tickMs?: number;
}

const IN_PROGRESS: readonly WorkspaceState[] = ['starting', 'provisioning'];
const SETTLING: readonly WorkspaceState[] = ['stopping', 'terminating'];
const RESUMABLE: readonly WorkspaceState[] = ['stopped', 'terminated', 'failed'];

/**
 * The workspace page's behaviour with no DOM: open on demand, poll while starting, heartbeat while
 * visible and used, the idle countdown, stop and resume. React subscribes to its snapshots
 * (useSyncExternalStore) and forwards DOM events to it.
 */
export class WorkspaceSession {
  private state: SessionSnapshot;
  private readonly listeners = new Set<() => void>();
  private readonly heartbeat = new HeartbeatSchedule(60_000);
  private pollTimer: unknown;
  private tickTimer: unknown;
  private retryTimer: unknown;
  /** Requests are numbered when sent; an answer older than the last one applied is ignored. */
  private sent = 0;
  private applied = 0;
  private failures = 0;
  private polling = false;
  private started = false;
  private disposed = false;

  constructor(private readonly deps: SessionDeps) {
    this.state = {
      screen: { kind: 'loading' },
      connected: false,
      skewMs: 0,
      now: deps.now(),
      resumeRequested: false,
      countdown: idleCountdown(undefined, 0),
    };
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): SessionSnapshot => this.state;

  /** Load the workspace; open it when there is none yet or it was terminated (once, on page load). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.scheduleTick();
    void this.load();
  }

  dispose(): void {
    this.disposed = true;
    for (const handle of [this.pollTimer, this.tickTimer, this.retryTimer]) if (handle !== undefined) this.deps.timers.clear(handle);
    this.listeners.clear();
  }

  /** Pointer, keyboard or wheel on the page, or focus moving into the tool. */
  presence(): void {
    this.heartbeat.markPresence();
  }

  visibilityChanged(visible: boolean): void {
    if (!visible || this.disposed) return;
    this.heartbeat.markPresence();
    // Back after a while: the workspace may have stopped and the gate cookie may be stale.
    if (this.state.view) this.schedulePoll(0);
    this.maybeBeat();
  }

  /** "Keep working": a heartbeat now. */
  keepWorking(): void {
    this.heartbeat.markPresence();
    if (this.state.view?.state !== 'ready' || this.heartbeat.inFlight) return;
    void this.beat();
  }

  /** The iframe fired `load` for `url`. */
  frameLoaded(url: string): void {
    const view = this.state.view;
    if (!view || view.state !== 'ready' || view.url !== url || this.state.connected) return;
    this.set({ connected: true });
  }

  /** "Try again" after a failure, "Resume" after a stop. */
  resume(): void {
    const state = this.state.view?.state;
    if (state && SETTLING.includes(state)) {
      this.set({ resumeRequested: true });
      this.schedulePoll();
      return;
    }
    void this.open();
  }

  /** "Try again" when carrel could not be reached at all. */
  retry(): void {
    if (this.state.view) void this.open();
    else void this.load();
  }

  async stop(): Promise<void> {
    if (this.state.pending || this.disposed) return;
    this.set({ pending: 'stop', resumeRequested: false });
    const seq = ++this.sent;
    const result = await this.deps.api.stop(this.deps.analysisId);
    if (this.disposed) return;
    this.set({ pending: undefined });
    if (result.ok) return this.accept(result, seq);
    if (result.status === 401) return this.deps.onUnauthenticated();
    this.set({ notice: result.message });
    this.schedulePoll(0);
  }

  private async load(): Promise<void> {
    if (this.retryTimer !== undefined) this.deps.timers.clear(this.retryTimer);
    this.retryTimer = undefined;
    const seq = ++this.sent;
    const result = await this.deps.api.status(this.deps.analysisId);
    if (this.disposed) return;
    if (result.ok) {
      this.accept(result, seq);
      // A terminated workspace is relaunched on page load, and only here (never in a loop).
      if (result.data.state === 'terminated') await this.open();
      return;
    }
    if (result.status === 404) return this.open();
    this.refused(result, () => this.load());
  }

  private async open(): Promise<void> {
    if (this.state.pending === 'open' || this.disposed) return;
    this.set({ pending: 'open', notice: undefined, resumeRequested: false });
    const seq = ++this.sent;
    const result = await this.deps.api.open(this.deps.analysisId);
    if (this.disposed) return;
    this.set({ pending: undefined });
    if (result.ok) return this.accept(result, seq);
    if (result.status === 404) return this.set({ screen: { kind: 'no-such-analysis', message: result.message } });
    if (result.status === 409) return this.schedulePoll(0);
    this.refused(result, () => this.open());
  }

  private async poll(): Promise<void> {
    if (this.polling || this.disposed) return;
    this.polling = true;
    const seq = ++this.sent;
    const result = await this.deps.api.status(this.deps.analysisId).finally(() => {
      this.polling = false;
    });
    if (this.disposed) return;
    if (result.ok) return this.accept(result, seq);
    if (result.status === 404) {
      // The record is gone (an admin cleaned up): offer to open afresh.
      return this.set({ view: undefined, connected: false, screen: { kind: 'unavailable', message: result.message } });
    }
    this.refused(result);
  }

  private async beat(): Promise<void> {
    this.heartbeat.beatStarted(this.deps.now());
    const seq = ++this.sent;
    const result = await this.deps.api.heartbeat(this.deps.analysisId);
    if (this.disposed) return;
    if (result.ok) {
      this.heartbeat.beatAnswered();
      return this.accept(result, seq);
    }
    if (result.status === 0 || result.status >= 500) {
      this.heartbeat.beatFailed(this.deps.now());
      return;
    }
    this.heartbeat.beatAnswered();
    if (result.status === 401) return this.deps.onUnauthenticated();
    // 409: the workspace is not running (any more); find out what it is doing.
    void this.poll();
  }

  /** Errors common to every call. `again` retries, with backoff, a call that has no view to fall back on. */
  private refused(result: ApiFailure, again?: () => Promise<void>): void {
    if (result.status === 401) return this.deps.onUnauthenticated();
    if (result.status === 403) return this.set({ screen: { kind: 'not-allowed', message: result.message } });
    this.failures++;
    if (this.state.view) {
      this.set({ notice: result.message });
      this.schedulePoll();
      return;
    }
    const passing = result.status === 0 || result.status >= 500;
    if (passing && again) {
      this.set({ notice: result.message });
      this.retryTimer = this.deps.timers.set(() => {
        this.retryTimer = undefined;
        void again();
      }, retryDelay(this.failures));
      return;
    }
    this.set({ notice: undefined, screen: { kind: 'unavailable', message: result.message } });
  }

  private accept(result: ApiOk<WorkspaceViewJson>, seq: number): void {
    if (seq < this.applied) return;
    this.applied = seq;
    this.failures = 0;
    const view = result.data;
    const now = this.deps.now();
    const skewMs = clockSkewMs(view.serverTime, result.sentAt, result.receivedAt);
    const previous = this.state;
    const connected = view.state === 'ready' && previous.connected && previous.view?.url === view.url;
    let waitStartedAt: number | undefined;
    if (IN_PROGRESS.includes(view.state) || (view.state === 'ready' && !connected)) {
      waitStartedAt = previous.waitStartedAt;
      if (waitStartedAt === undefined) {
        const entered = toLocalMs(view.stateEnteredAt, skewMs);
        waitStartedAt = view.state === 'starting' && !Number.isNaN(entered) ? Math.min(now, entered) : now;
      }
    }
    if (view.heartbeatSeconds > 0) this.heartbeat.setInterval(view.heartbeatSeconds * 1000);
    const resumeNow = previous.resumeRequested && RESUMABLE.includes(view.state);
    this.set({
      screen: { kind: 'workspace' },
      view,
      connected,
      skewMs,
      now,
      waitStartedAt,
      notice: undefined,
      resumeRequested: previous.resumeRequested && !resumeNow,
      countdown: idleCountdown(view, serverNowMs(now, skewMs)),
    });
    if (resumeNow) {
      void this.open();
      return;
    }
    this.schedulePoll();
  }

  private schedulePoll(delayMs?: number): void {
    if (this.pollTimer !== undefined) this.deps.timers.clear(this.pollTimer);
    this.pollTimer = undefined;
    const view = this.state.view;
    if (!view || this.disposed) return;
    const delay = delayMs ?? nextPollDelay(view.state, { countdown: this.state.countdown.show, failures: this.failures });
    if (delay === null) return;
    this.pollTimer = this.deps.timers.set(() => {
      this.pollTimer = undefined;
      void this.poll();
    }, delay);
  }

  private scheduleTick(): void {
    this.tickTimer = this.deps.timers.set(() => this.tick(), this.deps.tickMs ?? 1_000);
  }

  private tick(): void {
    if (this.disposed) return;
    const now = this.deps.now();
    const countdown = idleCountdown(this.state.view, serverNowMs(now, this.state.skewMs));
    const appeared = countdown.show && !this.state.countdown.show;
    const vanished = !countdown.show && this.state.countdown.show;
    this.set({ now, countdown });
    // When the warning appears, read the status at once: traffic the gate reported may have moved the stop.
    if (appeared) this.schedulePoll(0);
    else if (vanished) this.schedulePoll();
    this.maybeBeat();
    this.scheduleTick();
  }

  private maybeBeat(): void {
    if (this.state.view?.state !== 'ready') return;
    if (this.heartbeat.isDue(this.deps.now(), this.deps.isVisible())) void this.beat();
  }

  private set(patch: Partial<SessionSnapshot>): void {
    if (this.disposed) return;
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }
}

export type { ApiResult };
