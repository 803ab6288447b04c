/**
 * Ports: what the core needs from the outside world. Adapters (adapters/aws, local/) implement them;
 * entry points wire them. Nothing here knows about AWS, HTTP or processes.
 */
import type { Spare } from './pool.js';
import type { Workspace, WorkspaceKey } from './workspace.js';

/** A signed-in person, as the identity adapter vouches for them. */
export interface User {
  readonly userId: string;
  readonly name?: string;
  readonly roles: readonly string[];
}

export interface Analysis {
  readonly analysisId: string;
  readonly title: string;
  /** Researchers who may open a workspace for this analysis. */
  readonly members: readonly string[];
  /** Tool the workspace runs (e.g. `jupyter`, `rstudio`). */
  readonly tool: string;
  /** Size name from configuration (e.g. `small`). */
  readonly size: string;
}

/** Where analyses and their members come from (a table, or an organisation's catalog service). */
export interface AnalysisCatalog {
  get(analysisId: string, user: User): Promise<Analysis | undefined>;
  listFor(user: User): Promise<readonly Analysis[]>;
}

/**
 * Workspace records. Every write is conditional on the version the caller read, so concurrent
 * openers, events and housekeeping never overwrite each other's decisions.
 */
export interface WorkspaceStore {
  get(key: WorkspaceKey): Promise<Workspace | undefined>;
  /**
   * Write `next` only if the stored record still has `expectedVersion` (or, when null, does not exist).
   * Returns false when the condition failed (someone else won).
   */
  put(next: Workspace, expectedVersion: number | null): Promise<boolean>;
  /**
   * Record activity on a ready workspace in one write: set `lastActivityAt` and `dueAt` and increment
   * `version` (so a decision taken on an older read, e.g. an idle stop, loses its conditional put).
   * `workspaceId` and `generation`, when given, guard against a stale caller.
   * Returns the updated record, or undefined when it is not ready or does not match (nothing is written then).
   */
  touch(
    key: WorkspaceKey,
    activity: { readonly at: string; readonly dueAt: string; readonly workspaceId?: string; readonly generation?: number },
  ): Promise<Workspace | undefined>;
  findByInstance(instanceId: string): Promise<Workspace | undefined>;
  /** Records whose `dueAt` is at or before `now`, oldest first: housekeeping's candidates. */
  findDue(now: string, limit: number): Promise<readonly Workspace[]>;
}

export interface LaunchRequest {
  readonly workspace: Workspace;
  /** Idempotency token: the same token never launches twice. */
  readonly clientToken: string;
  readonly home: HomeRef;
  /** Tags every created resource carries (deployment, analysis, user, workspace, generation). */
  readonly tags: Readonly<Record<string, string>>;
}

export interface InstanceView {
  readonly instanceId: string;
  readonly state: 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
  readonly tags: Readonly<Record<string, string>>;
}

/** Runs workspaces: EC2 instances, Fargate tasks, or local processes. */
export interface ComputePort {
  /** Start a new instance; returns at once (progress arrives as compute events). */
  launch(request: LaunchRequest): Promise<{ readonly instanceId: string }>;
  /** Resume a stopped instance. */
  /**
   * Resume a stopped instance. Compute that cannot keep a stopped instance (a Fargate task) starts a
   * replacement and returns its id, which the record then adopts.
   */
  start(instanceId: string, workspace: Workspace): Promise<{ readonly instanceId: string } | void>;
  stop(instanceId: string): Promise<void>;
  /**
   * Delete the instance. Returns `{ gone: true }` when it was already gone (e.g. a Fargate task that
   * stopped long ago): no `terminated` event will follow, so the caller finishes the transition itself.
   */
  terminate(instanceId: string): Promise<{ readonly gone?: boolean } | void>;
  /** Every instance carrying this deployment's tag, whatever its state (for reconciliation). */
  listTagged(): Promise<readonly InstanceView[]>;
  /**
   * Warm pool (compute that supports one: EC2). Launch a spare instance for `size` with no workspace,
   * idempotent on `clientToken`.
   */
  launchSpare?(request: SpareLaunchRequest): Promise<{ readonly instanceId: string }>;
  /** Hand a spare instance to a workspace: it now carries `tags` (the workspace's) and no spare tags. */
  adopt?(instanceId: string, tags: Readonly<Record<string, string>>): Promise<void>;
}

export interface SpareLaunchRequest {
  readonly size: string;
  readonly clientToken: string;
  /** Deployment and spare tags (see core/pool.ts spareTags). */
  readonly tags: Readonly<Record<string, string>>;
}

/** Spare records of the warm pool, with the same conditional-write contract as WorkspaceStore. */
export interface SpareStore {
  /** Every spare of one size (a pool is small: one query). */
  list(size: string): Promise<readonly Spare[]>;
  get(size: string, spareId: string): Promise<Spare | undefined>;
  /** Write only if the stored spare still has `expectedVersion` (null: only if absent); false when someone else won. */
  put(next: Spare, expectedVersion: number | null): Promise<boolean>;
  /** Delete only if the stored spare still has `spare.version`; false when it changed or is gone. */
  remove(spare: Spare): Promise<boolean>;
}

/** Progress reported by compute (EventBridge on AWS, the process supervisor locally). */
export type ComputeEvent =
  | { readonly kind: 'running'; readonly instanceId: string; readonly address: string }
  /**
   * The tool answers. `address` is optional; when given, a `tool-ready` that overtakes its `running`
   * event can still publish the hostname and complete the start.
   */
  | { readonly kind: 'tool-ready'; readonly instanceId: string; readonly address?: string }
  | { readonly kind: 'stopped'; readonly instanceId: string }
  | { readonly kind: 'terminated'; readonly instanceId: string }
  | { readonly kind: 'failed'; readonly instanceId: string; readonly reason: string };

/**
 * Prepares a running instance for its researcher (mount the home, create the user, first-use project,
 * start the tool and the gate) and then reports `tool-ready` or `failed` as a compute event.
 * `provision` only hands the work off (e.g. an asynchronous Lambda invocation) and returns at once:
 * long work never runs inside a request the browser is waiting on. Compute that prepares itself
 * (the local runtime's processes) needs none.
 */
export interface ProvisionerPort {
  provision(workspace: Workspace): Promise<void>;
}

export interface HomeRef {
  /** EFS access point id or local folder. */
  readonly homeId: string;
  readonly created: boolean;
}

/** Per-analysis, per-researcher homes: created once and kept forever. */
export interface HomesPort {
  ensure(key: WorkspaceKey): Promise<HomeRef>;
}

/** DNS names for workspaces (`ws-<random>.<desk domain>`). */
export interface HostnamesPort {
  readonly deskDomain: string;
  assign(hostname: string, address: string): Promise<void>;
  release(hostname: string): Promise<void>;
  /** Every workspace hostname currently published (for reconciliation). */
  list(): Promise<readonly string[]>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured log sink; adapters may send it to Powertools, a file or the console. */
export interface Log {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

/** Who a workspace task is, as the cloud vouches for it (Fargate: a signed sts:GetCallerIdentity). */
export interface TaskIdentity {
  /** The task, as the workspace record names it (`instanceId`). */
  readonly instanceId: string;
  /** The role the task's credentials belong to. */
  readonly role: string;
}

/** Proves which task is asking (the bootstrap of a workspace that receives no secret at launch). */
export interface TaskIdentityPort {
  /**
   * The task that signed `proof`. Throws UnauthenticatedError when the proof is malformed, tampered with,
   * meant for another desk or refused by the cloud; TransientError when the cloud cannot answer now.
   */
  identify(proof: unknown): Promise<TaskIdentity>;
  /** The role a workspace's task must run as (its home's own role). */
  roleFor(key: WorkspaceKey): string;
}
