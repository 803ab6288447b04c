/**
 * Modeled time for the AWS open→ready model. Real code runs against mocked AWS clients that answer at
 * once; every call and every wait becomes a Step laid out in modeled seconds:
 *
 * - a Step starts at the timeline's frontier: the latest end of the steps that had completed (in real
 *   execution order) when it started, and remembers that step as `after` (what it waited for);
 * - a call ends its figure's latency later (aws-latencies.ts); a wait ends its duration later;
 * - calls the code makes concurrently (Promise.all, a promise started before another awaited) all start
 *   at the same frontier, and whatever follows them starts after the latest: concurrency is taken from
 *   the code, not assumed. (Over-serialization is possible, never under: a step may wait for an unrelated
 *   concurrent step that happened to finish first in real time. The code paths modeled here have none.)
 *
 * Following `after` back from the last step gives the critical path. Branches (a wait that runs beside the
 * main line, e.g. DNS propagation) start at a given step's end and leave the frontier alone.
 */
import { apiCallFigure, type Figure } from './aws-latencies.js';

export type Service = 'DynamoDB' | 'KMS' | 'EC2' | 'ECS' | 'EFS' | 'IAM' | 'STS' | 'Route 53' | 'Lambda' | 'Secrets Manager';

export interface Step {
  readonly id: number;
  readonly kind: 'call' | 'wait';
  /** `EC2 RunInstances`, or what is waited for. */
  readonly label: string;
  readonly service?: Service;
  /** The API operation (`RunInstances`). */
  readonly operation?: string;
  /** The Lambda function or actor whose work this is (`open`, `compute-events`, `browser`, `EC2`, ...). */
  readonly actor: string;
  /** True while a browser request is waiting for the answer (the open call, a status poll). */
  readonly browserWaits: boolean;
  readonly start: number;
  readonly end: number;
  /** The step whose end this one waited for. */
  readonly after?: Step;
  /** Which figure of aws-latencies.ts (or which code setting) gave the duration. */
  readonly basis: string;
  /** Extra facts (e.g. the request that was sent). */
  readonly note?: string;
}

interface Frontier {
  readonly t: number;
  readonly step?: Step;
}

export class Timeline {
  readonly steps: Step[] = [];
  private frontier: Frontier = { t: 0 };
  private actor = 'setup';
  private browserWaits = false;

  /** Modeled seconds now (the frontier). */
  now(): number {
    return this.frontier.t;
  }

  /** The step that set the frontier. */
  last(): Step | undefined {
    return this.frontier.step;
  }

  /** Continue after `step` (its end becomes the frontier), or from t=0 with none. */
  resumeAfter(step: Step | undefined): void {
    this.frontier = step ? { t: step.end, step } : { t: 0 };
  }

  /** Continue after the latest of `steps`. */
  join(...steps: readonly (Step | undefined)[]): Step | undefined {
    const latest = steps.filter((s): s is Step => Boolean(s)).reduce<Step | undefined>((a, b) => (!a || b.end > a.end ? b : a), undefined);
    this.resumeAfter(latest);
    return latest;
  }

  /** Who acts from now on, and whether a browser request is waiting on it. */
  act(actor: string, browserWaits: boolean): void {
    this.actor = actor;
    this.browserWaits = browserWaits;
  }

  /** A wait on the main line: starts at the frontier, moves it. `actor` overrides who waits. */
  wait(label: string, seconds: number, basis: string, options: { readonly note?: string; readonly actor?: string } = {}): Step {
    const step = this.add({
      kind: 'wait',
      label,
      start: this.frontier.t,
      end: this.frontier.t + seconds,
      after: this.frontier.step,
      basis,
      ...(options.note ? { note: options.note } : {}),
      ...(options.actor ? { actor: options.actor } : {}),
    });
    this.advance(step);
    return step;
  }

  /** A wait taken from aws-latencies.ts (`name` is its key in WAITS). */
  waitFor(label: string, name: string, figure: Figure, options: { readonly note?: string; readonly actor?: string } = {}): Step {
    return this.wait(label, figure.seconds, `aws-latencies.ts WAITS.${name}`, options);
  }

  /** A wait beside the main line, from the end of `from`; the frontier does not move. */
  branch(from: Step, label: string, seconds: number, basis: string, actor: string): Step {
    return this.add({ kind: 'wait', label, start: from.end, end: from.end + seconds, after: from, basis, actor, browserWaits: false });
  }

  /**
   * An AWS call: starts at the frontier now, lasts its figure's latency; `run` produces the mocked
   * answer. The frontier moves when the answer has been delivered (in real execution order).
   */
  async call<T>(service: Service, operation: string, run: (step: Step) => T | Promise<T>, note?: string): Promise<T> {
    const handle = this.begin(service, operation, note);
    try {
      return await run(handle);
    } finally {
      // Deliver on a later macrotask, so calls started concurrently (in the same tick or microtask
      // chain) have all started before any of them ends, as on a real network.
      await new Promise((resolve) => setImmediate(resolve));
      this.finish(handle);
    }
  }

  /** The two halves of `call`, for middleware that sees the start and the end separately. */
  begin(service: Service, operation: string, note?: string): Step {
    const { key, figure } = apiCallFigure(service, operation);
    return this.add({
      kind: 'call',
      label: `${service} ${operation}`,
      service,
      operation,
      start: this.frontier.t,
      end: this.frontier.t + figure.seconds,
      after: this.frontier.step,
      basis: `aws-latencies.ts API_CALLS['${key}']`,
      ...(note ? { note } : {}),
    });
  }

  finish(step: Step): void {
    this.advance(step);
  }

  /** Steps from the start to `last` along `after` (the critical path), in time order. */
  criticalPath(last: Step): Step[] {
    const path: Step[] = [];
    for (let step: Step | undefined = last; step; step = step.after) path.push(step);
    return path.reverse();
  }

  private advance(step: Step): void {
    if (!this.frontier.step || step.end >= this.frontier.t) this.frontier = { t: step.end, step };
  }

  private add(partial: Omit<Step, 'id' | 'actor' | 'browserWaits'> & { actor?: string; browserWaits?: boolean }): Step {
    const step: Step = { id: this.steps.length + 1, actor: this.actor, browserWaits: this.browserWaits, ...partial };
    this.steps.push(step);
    return step;
  }
}
