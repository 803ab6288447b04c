/**
 * In-memory implementations of the core ports, for unit, handler and integration tests.
 *
 * They keep the semantics the production adapters promise (see lambdas/core/ports.ts and
 * lambdas/adapters/aws/dynamo-store.ts): conditional writes on `version`, `touch` only on ready records,
 * sparse instance and due indexes, idempotent launches by client token, tag-based listing. Each fake
 * records the calls made to it so tests can assert on what the core did, and can be told to fail.
 *
 *   const f = makeDeps();                        // every port faked, TEST_POLICY, a FakeClock
 *   const ws = await openWorkspace(f, users.alice, 'demo');
 *   f.clock.advance(1_000);
 *   assert.equal(f.compute.launchCount, 1);
 *
 * `makeDeps` returns core `WorkspaceDeps` whose ports are the concrete fakes (typed as such), so a
 * test reaches `f.store`, `f.compute`, ... directly. Pass overrides to swap any of them.
 */
import {
  DEFAULT_POLICY,
  deadlineFor,
  dueAtFor,
  handleComputeEvent,
  openWorkspace,
  TransientError,
  workspaceTags,
  type Analysis,
  type AnalysisCatalog,
  type Clock,
  type ComputePort,
  type HomeRef,
  type HomesPort,
  type HostnamesPort,
  type InstanceView,
  type LaunchRequest,
  type LifecyclePolicy,
  type Log,
  type ProvisionerPort,
  type Spare,
  type SpareLaunchRequest,
  type SpareStore,
  type User,
  type Workspace,
  type WorkspaceDeps,
  type WorkspaceKey,
  type WorkspaceState,
  type WorkspaceStore,
} from '../../lambdas/core/index.js';

/** A fixed, readable start time for every fake clock. */
export const T0 = new Date('2030-01-01T09:00:00.000Z');

/**
 * A lifecycle policy with a different deadline per state, so a test can tell which one applied.
 * Idle timeout, warning and retention are the production defaults.
 */
export const TEST_POLICY: LifecyclePolicy = {
  deadlines: { starting: 5 * 60_000, provisioning: 4 * 60_000, stopping: 3 * 60_000, terminating: 10 * 60_000 },
  idleTimeoutMs: DEFAULT_POLICY.idleTimeoutMs,
  idleWarningMs: DEFAULT_POLICY.idleWarningMs,
  stoppedRetentionMs: DEFAULT_POLICY.stoppedRetentionMs,
};

export const DESK_DOMAIN = 'app.test';
export const DEPLOYMENT_ID = 'test-deployment';

/** The demo people of local mode. */
export const users = {
  alice: { userId: 'alice', name: 'Alice', roles: ['researcher'] },
  bob: { userId: 'bob', name: 'Bob', roles: ['researcher'] },
  rita: { userId: 'rita', name: 'Rita', roles: ['reviewer'] },
  pat: { userId: 'pat', name: 'Pat', roles: ['admin'] },
} as const satisfies Record<string, User>;

/** The demo analyses of local mode: `demo` (alice, bob) and `census-2021` (bob only). */
export const DEMO_ANALYSES: readonly Analysis[] = [
  { analysisId: 'demo', title: 'Demo analysis', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' },
  { analysisId: 'census-2021', title: 'Census 2021', members: ['bob'], tool: 'jupyter', size: 'small' },
];

const copy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/**
 * A record as a store returns it: a deep copy without undefined fields (DynamoDB drops them too).
 * Use it to compare a use case's result with `store.peek(...)`.
 */
export function plain<T>(value: T): T {
  return copy(value);
}

// ---------------------------------------------------------------------------------------------- clock

/** A clock that moves only when told to. `now()` returns a fresh Date each call. */
export class FakeClock implements Clock {
  private ms: number;
  constructor(start: Date | string = T0) {
    this.ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.ms);
  }
  /** Move forward (or back, with a negative value) by `ms`; returns the new time. */
  advance(ms: number): Date {
    this.ms += ms;
    return this.now();
  }
  set(at: Date | string): Date {
    this.ms = new Date(at).getTime();
    return this.now();
  }
  iso(): string {
    return this.now().toISOString();
  }
}

// ---------------------------------------------------------------------------------------------- log

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly data?: Record<string, unknown>;
}

/** A log that keeps every entry for assertions. */
export class FakeLog implements Log {
  readonly entries: LogEntry[] = [];
  info(message: string, data?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, data });
  }
  warn(message: string, data?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, data });
  }
  error(message: string, data?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, data });
  }
  /** Entries whose message contains `text` (and, when given, have that level). */
  find(text: string, level?: LogEntry['level']): LogEntry[] {
    return this.entries.filter((entry) => entry.message.includes(text) && (!level || entry.level === level));
  }
}

// ---------------------------------------------------------------------------------------------- store

export type StoreOp = 'get' | 'put' | 'touch' | 'findByInstance' | 'findDue';

/**
 * WorkspaceStore in memory, with the DynamoDB adapter's semantics:
 *  - records are copied in and out (callers never share objects with the store), undefined fields dropped;
 *  - `put` is conditional: `expectedVersion` null = create only if absent, else replace only if the stored
 *    version matches; returns false when the condition fails;
 *  - `touch` writes only on a `ready` record (and matching workspaceId/generation when given): sets
 *    lastActivityAt and dueAt, increments version, returns the new record;
 *  - `findByInstance` is the sparse instance index; `findDue` the sparse due index (dueAt <= now,
 *    oldest first, ties by analysisId then userId, at most `limit`).
 * `ops` counts every call (reads and writes) for "one read per poll" style assertions.
 */
export class FakeWorkspaceStore implements WorkspaceStore {
  private readonly records = new Map<string, Workspace>();
  readonly ops: StoreOp[] = [];
  /** Runs before each conditional put is evaluated: lets a test simulate a concurrent writer. */
  beforePut?: (next: Workspace, expectedVersion: number | null) => void | Promise<void>;
  /** When set, the next call of that operation throws it (then it is cleared). */
  private readonly failures = new Map<StoreOp, Error>();

  static keyOf(key: WorkspaceKey): string {
    return `${key.analysisId}\u0000${key.userId}`;
  }

  async get(key: WorkspaceKey): Promise<Workspace | undefined> {
    this.record('get');
    return copy(this.records.get(FakeWorkspaceStore.keyOf(key)));
  }

  async put(next: Workspace, expectedVersion: number | null): Promise<boolean> {
    this.record('put');
    if (this.beforePut) await this.beforePut(copy(next), expectedVersion);
    const id = FakeWorkspaceStore.keyOf(next);
    const stored = this.records.get(id);
    if (expectedVersion === null ? stored !== undefined : stored?.version !== expectedVersion) return false;
    this.records.set(id, copy(next));
    return true;
  }

  async touch(
    key: WorkspaceKey,
    activity: { readonly at: string; readonly dueAt: string; readonly workspaceId?: string; readonly generation?: number },
  ): Promise<Workspace | undefined> {
    this.record('touch');
    const id = FakeWorkspaceStore.keyOf(key);
    const stored = this.records.get(id);
    if (!stored || stored.state !== 'ready') return undefined;
    if (activity.workspaceId !== undefined && stored.workspaceId !== activity.workspaceId) return undefined;
    if (activity.generation !== undefined && stored.generation !== activity.generation) return undefined;
    const next: Workspace = { ...stored, lastActivityAt: activity.at, dueAt: activity.dueAt, version: stored.version + 1 };
    this.records.set(id, copy(next));
    return copy(next);
  }

  async findByInstance(instanceId: string): Promise<Workspace | undefined> {
    this.record('findByInstance');
    for (const ws of this.records.values()) if (ws.instanceId === instanceId) return copy(ws);
    return undefined;
  }

  async findDue(now: string, limit: number): Promise<readonly Workspace[]> {
    this.record('findDue');
    return [...this.records.values()]
      .filter((ws) => ws.dueAt !== undefined && ws.dueAt <= now)
      .sort((a, b) => cmp(a.dueAt!, b.dueAt!) || cmp(a.analysisId, b.analysisId) || cmp(a.userId, b.userId))
      .slice(0, Math.max(0, limit))
      .map(copy);
  }

  // -- test helpers (not part of the port) --

  /** Store a record as is, bypassing conditions (to set up a scenario). */
  seed(...records: Workspace[]): void {
    for (const ws of records) this.records.set(FakeWorkspaceStore.keyOf(ws), copy(ws));
  }
  /** The stored record, without counting an op. */
  peek(key: WorkspaceKey): Workspace | undefined {
    return copy(this.records.get(FakeWorkspaceStore.keyOf(key)));
  }
  all(): Workspace[] {
    return [...this.records.values()].map(copy);
  }
  get size(): number {
    return this.records.size;
  }
  /** Make the next call of `op` throw `error`. */
  failNext(op: StoreOp, error: Error = new TransientError(`store ${op} failed`)): void {
    this.failures.set(op, error);
  }
  /** How many calls of `op` were made (all ops when omitted). */
  count(op?: StoreOp): number {
    return op ? this.ops.filter((o) => o === op).length : this.ops.length;
  }
  /** How many writes (put + touch) were made. */
  get writes(): number {
    return this.count('put') + this.count('touch');
  }

  private record(op: StoreOp): void {
    this.ops.push(op);
    const failure = this.failures.get(op);
    if (failure) {
      this.failures.delete(op);
      throw failure;
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------- compute

export type ComputeOp = 'launch' | 'start' | 'stop' | 'terminate' | 'listTagged' | 'launchSpare' | 'adopt';

export type ComputeCall =
  | { readonly op: 'launch'; readonly request: LaunchRequest }
  | { readonly op: 'launchSpare'; readonly request: SpareLaunchRequest }
  | { readonly op: 'adopt'; readonly instanceId: string; readonly tags: Readonly<Record<string, string>> }
  | { readonly op: 'start' | 'stop' | 'terminate'; readonly instanceId: string }
  | { readonly op: 'listTagged' };

export interface FakeInstance {
  readonly instanceId: string;
  state: InstanceView['state'];
  tags: Readonly<Record<string, string>>;
  readonly clientToken?: string;
  readonly homeId?: string;
}

/** A capacity error of the kind EC2 returns (InsufficientInstanceCapacity): transient. */
export function capacityError(): TransientError {
  return new TransientError('InsufficientInstanceCapacity: there is not enough capacity for the requested instance type');
}

/**
 * ComputePort in memory. `launch` creates a `pending` instance carrying the request's tags, and is
 * idempotent on `clientToken` (the same token returns the same instance and creates nothing);
 * `start`/`stop`/`terminate` move an instance's state and throw for an unknown id (like EC2);
 * `listTagged` returns every instance tagged with this deployment, whatever its state.
 * Instances do not emit events by themselves: tests send them with `handleComputeEvent`.
 */
export class FakeCompute implements ComputePort {
  readonly calls: ComputeCall[] = [];
  readonly instances = new Map<string, FakeInstance>();
  private readonly byToken = new Map<string, string>();
  private readonly failures = new Map<ComputeOp, { error: Error; times: number }>();
  private seq = 0;

  constructor(readonly deploymentId = DEPLOYMENT_ID) {}

  async launch(request: LaunchRequest): Promise<{ readonly instanceId: string }> {
    this.calls.push({ op: 'launch', request });
    this.maybeFail('launch');
    const existing = this.byToken.get(request.clientToken);
    if (existing) return { instanceId: existing };
    const instanceId = this.nextId();
    this.byToken.set(request.clientToken, instanceId);
    this.instances.set(instanceId, { instanceId, state: 'pending', tags: { ...request.tags }, clientToken: request.clientToken, homeId: request.home.homeId });
    return { instanceId };
  }

  /** A spare instance (warm pool): idempotent on the token like `launch`, with no home. */
  async launchSpare(request: SpareLaunchRequest): Promise<{ readonly instanceId: string }> {
    this.calls.push({ op: 'launchSpare', request });
    this.maybeFail('launchSpare');
    const existing = this.byToken.get(request.clientToken);
    if (existing) return { instanceId: existing };
    const instanceId = this.nextId();
    this.byToken.set(request.clientToken, instanceId);
    this.instances.set(instanceId, { instanceId, state: 'pending', tags: { ...request.tags }, clientToken: request.clientToken });
    return { instanceId };
  }

  /** Retag a spare for a workspace: the spare tags go, `tags` are set. */
  async adopt(instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    this.calls.push({ op: 'adopt', instanceId, tags });
    this.maybeFail('adopt');
    const instance = this.require(instanceId);
    const kept = Object.fromEntries(Object.entries(instance.tags).filter(([key]) => key !== 'carrel:spare' && key !== 'carrel:size'));
    instance.tags = { ...kept, ...tags };
  }

  async start(instanceId: string, _workspace: Workspace): Promise<{ readonly instanceId: string } | void> {
    this.calls.push({ op: 'start', instanceId });
    this.maybeFail('start');
    const instance = this.require(instanceId);
    if (instance.state === 'terminated') throw new Error(`IncorrectInstanceState: ${instanceId} is terminated`);
    instance.state = 'pending';
  }

  async stop(instanceId: string): Promise<void> {
    this.calls.push({ op: 'stop', instanceId });
    this.maybeFail('stop');
    const instance = this.require(instanceId);
    if (instance.state === 'terminated') throw new Error(`IncorrectInstanceState: ${instanceId} is terminated`);
    instance.state = 'stopped';
  }

  async terminate(instanceId: string): Promise<{ readonly gone?: boolean } | void> {
    this.calls.push({ op: 'terminate', instanceId });
    this.maybeFail('terminate');
    this.require(instanceId).state = 'terminated';
  }

  async listTagged(): Promise<readonly InstanceView[]> {
    this.calls.push({ op: 'listTagged' });
    this.maybeFail('listTagged');
    return [...this.instances.values()]
      .filter((instance) => instance.tags['carrel:deployment'] === this.deploymentId)
      .map(({ instanceId, state, tags }) => ({ instanceId, state, tags: { ...tags } }));
  }

  // -- test helpers --

  /** Make `op` throw `error` for the next `times` calls (default once). */
  failNext(op: ComputeOp, error: Error = new TransientError(`compute ${op} failed`), times = 1): void {
    this.failures.set(op, { error, times });
  }
  /** Make `op` throw `error` on every call until `clearFailures()`. */
  failAlways(op: ComputeOp, error: Error = new TransientError(`compute ${op} failed`)): void {
    this.failures.set(op, { error, times: Number.POSITIVE_INFINITY });
  }
  clearFailures(): void {
    this.failures.clear();
  }
  /** Put an instance in place as if created outside the use cases (e.g. a leftover to reconcile). */
  addInstance(instance: { instanceId?: string; state?: InstanceView['state']; tags: Record<string, string> }): string {
    const instanceId = instance.instanceId ?? this.nextId();
    this.instances.set(instanceId, { instanceId, state: instance.state ?? 'running', tags: { ...instance.tags } });
    return instanceId;
  }
  setState(instanceId: string, state: InstanceView['state']): void {
    this.require(instanceId).state = state;
  }
  stateOf(instanceId: string): InstanceView['state'] | undefined {
    return this.instances.get(instanceId)?.state;
  }
  /** Calls of one kind, e.g. `callsOf('terminate').map((c) => c.instanceId)`. */
  callsOf<K extends ComputeCall['op']>(op: K): Extract<ComputeCall, { op: K }>[] {
    return this.calls.filter((call): call is Extract<ComputeCall, { op: K }> => call.op === op);
  }
  /** Instance ids passed to `op` (start, stop, terminate, adopt). */
  idsOf(op: 'start' | 'stop' | 'terminate' | 'adopt'): string[] {
    return this.callsOf(op).map((call) => call.instanceId);
  }
  /** Launch requests received (including repeats of a token). */
  get launchRequests(): LaunchRequest[] {
    return this.callsOf('launch').map((call) => call.request);
  }
  /** Instances actually created by `launch` (distinct client tokens). */
  get launchCount(): number {
    return this.byToken.size;
  }
  /** Instances neither stopped nor terminated. */
  running(): FakeInstance[] {
    return [...this.instances.values()].filter((instance) => instance.state === 'pending' || instance.state === 'running');
  }

  private nextId(): string {
    this.seq += 1;
    return `i-${String(this.seq).padStart(8, '0')}`;
  }
  private require(instanceId: string): FakeInstance {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new Error(`InvalidInstanceID.NotFound: ${instanceId}`);
    return instance;
  }
  private maybeFail(op: ComputeOp): void {
    const failure = this.failures.get(op);
    if (!failure) return;
    failure.times -= 1;
    if (failure.times <= 0) this.failures.delete(op);
    throw failure.error;
  }
}

/** ComputePort without a warm pool (Fargate, local processes): no launchSpare, no adopt. */
export function withoutPool(compute: FakeCompute): ComputePort {
  return {
    launch: (request) => compute.launch(request),
    start: (instanceId, ws) => compute.start(instanceId, ws),
    stop: (instanceId) => compute.stop(instanceId),
    terminate: (instanceId) => compute.terminate(instanceId),
    listTagged: () => compute.listTagged(),
  };
}

// ---------------------------------------------------------------------------------------------- spares

/** SpareStore in memory with the DynamoDB adapter's conditional semantics. */
export class FakeSpareStore implements SpareStore {
  private readonly spares = new Map<string, Spare>();
  /** Runs before each conditional put: lets a test simulate a concurrent claimer. */
  beforePut?: (next: Spare, expectedVersion: number | null) => void | Promise<void>;
  private failure?: Error;

  private static keyOf(size: string, spareId: string): string {
    return `${size}\u0000${spareId}`;
  }
  async list(size: string): Promise<readonly Spare[]> {
    this.maybeFail();
    return [...this.spares.values()].filter((spare) => spare.size === size).sort((a, b) => cmp(a.spareId, b.spareId)).map(copy);
  }
  async get(size: string, spareId: string): Promise<Spare | undefined> {
    this.maybeFail();
    return copy(this.spares.get(FakeSpareStore.keyOf(size, spareId)));
  }
  async put(next: Spare, expectedVersion: number | null): Promise<boolean> {
    this.maybeFail();
    if (this.beforePut) await this.beforePut(copy(next), expectedVersion);
    const id = FakeSpareStore.keyOf(next.size, next.spareId);
    const stored = this.spares.get(id);
    if (expectedVersion === null ? stored !== undefined : stored?.version !== expectedVersion) return false;
    this.spares.set(id, copy(next));
    return true;
  }
  async remove(spare: Spare): Promise<boolean> {
    this.maybeFail();
    const id = FakeSpareStore.keyOf(spare.size, spare.spareId);
    if (this.spares.get(id)?.version !== spare.version) return false;
    this.spares.delete(id);
    return true;
  }
  // -- test helpers --
  all(): Spare[] {
    return [...this.spares.values()].map(copy);
  }
  seed(...spares: Spare[]): void {
    for (const spare of spares) this.spares.set(FakeSpareStore.keyOf(spare.size, spare.spareId), copy(spare));
  }
  failNext(error: Error = new TransientError('spare store failed')): void {
    this.failure = error;
  }
  private maybeFail(): void {
    const failure = this.failure;
    if (!failure) return;
    this.failure = undefined;
    throw failure;
  }
}

// ---------------------------------------------------------------------------------------------- provisioner

/** ProvisionerPort that records each hand-off, and throws `failure` when set. */
export class RecordingProvisioner implements ProvisionerPort {
  readonly requests: Workspace[] = [];
  failure?: Error;
  async provision(workspace: Workspace): Promise<void> {
    this.requests.push(workspace);
    if (this.failure) throw this.failure;
  }
}

// ---------------------------------------------------------------------------------------------- homes

/** HomesPort in memory: one home per (analysis, user), `created` true only the first time. */
export class FakeHomes implements HomesPort {
  readonly homes = new Map<string, HomeRef>();
  readonly calls: WorkspaceKey[] = [];
  private failure?: Error;

  async ensure(key: WorkspaceKey): Promise<HomeRef> {
    this.calls.push({ analysisId: key.analysisId, userId: key.userId });
    if (this.failure) {
      const error = this.failure;
      this.failure = undefined;
      throw error;
    }
    const id = `${key.analysisId}/${key.userId}`;
    const existing = this.homes.get(id);
    if (existing) return { ...existing, created: false };
    const home: HomeRef = { homeId: `home-${key.analysisId}-${key.userId}`, created: true };
    this.homes.set(id, home);
    return home;
  }

  failNext(error: Error = new TransientError('home could not be created')): void {
    this.failure = error;
  }
}

// ---------------------------------------------------------------------------------------------- hostnames

/** HostnamesPort in memory: a map hostname → address, with a log of assign and release calls. */
export class FakeHostnames implements HostnamesPort {
  readonly records = new Map<string, string>();
  readonly assigned: { readonly hostname: string; readonly address: string }[] = [];
  readonly released: string[] = [];
  private readonly failures = new Map<'assign' | 'release' | 'list', Error>();
  private duringAssign: (() => Promise<void>) | undefined;

  constructor(readonly deskDomain = DESK_DOMAIN) {}

  async assign(hostname: string, address: string): Promise<void> {
    this.assigned.push({ hostname, address });
    const concurrent = this.duringAssign;
    this.duringAssign = undefined;
    if (concurrent) await concurrent();
    this.maybeFail('assign');
    this.records.set(hostname, address);
  }

  /** Idempotent, like an UPSERT/DELETE that tolerates a missing record. */
  async release(hostname: string): Promise<void> {
    this.released.push(hostname);
    this.maybeFail('release');
    this.records.delete(hostname);
  }

  async list(): Promise<readonly string[]> {
    this.maybeFail('list');
    return [...this.records.keys()];
  }

  // -- test helpers --

  failNext(op: 'assign' | 'release' | 'list', error: Error = new TransientError(`hostname ${op} failed`)): void {
    this.failures.set(op, error);
  }
  /** Run `action` while the next assign is in flight, as a concurrent event handler would. */
  whileNextAssign(action: () => Promise<void>): void {
    this.duringAssign = action;
  }
  has(hostname: string): boolean {
    return this.records.has(hostname);
  }
  private maybeFail(op: 'assign' | 'release' | 'list'): void {
    const failure = this.failures.get(op);
    if (!failure) return;
    this.failures.delete(op);
    throw failure;
  }
}

// ---------------------------------------------------------------------------------------------- catalog

/** AnalysisCatalog over a fixed list; `listFor` returns the analyses the user is a member of. */
export class FakeCatalog implements AnalysisCatalog {
  readonly analyses: Analysis[];
  constructor(analyses: readonly Analysis[] = DEMO_ANALYSES) {
    this.analyses = analyses.map((analysis) => ({ ...analysis, members: [...analysis.members] }));
  }
  async get(analysisId: string, _user: User): Promise<Analysis | undefined> {
    return this.analyses.find((analysis) => analysis.analysisId === analysisId);
  }
  async listFor(user: User): Promise<readonly Analysis[]> {
    return this.analyses.filter((analysis) => analysis.members.includes(user.userId));
  }
}

// ---------------------------------------------------------------------------------------------- deps

/** Core deps whose ports are the fakes above (typed concretely, so tests reach their helpers). */
export interface FakeDeps extends WorkspaceDeps {
  readonly store: FakeWorkspaceStore;
  readonly compute: FakeCompute;
  readonly homes: FakeHomes;
  readonly hostnames: FakeHostnames;
  readonly catalog: FakeCatalog;
  readonly clock: FakeClock;
  readonly log: FakeLog;
}

/**
 * Core `WorkspaceDeps` made of fresh fakes, TEST_POLICY and DEPLOYMENT_ID. Anything in `overrides`
 * replaces the default and keeps its own type in the result.
 */
export function makeDeps<O extends Partial<WorkspaceDeps> = {}>(overrides?: O): Omit<FakeDeps, keyof O> & O {
  const deploymentId = overrides?.deploymentId ?? DEPLOYMENT_ID;
  const defaults: FakeDeps = {
    store: new FakeWorkspaceStore(),
    compute: new FakeCompute(deploymentId),
    homes: new FakeHomes(),
    hostnames: new FakeHostnames(),
    catalog: new FakeCatalog(),
    clock: new FakeClock(),
    policy: TEST_POLICY,
    log: new FakeLog(),
    deploymentId,
  };
  return { ...defaults, ...overrides } as Omit<FakeDeps, keyof O> & O;
}

// ---------------------------------------------------------------------------------------------- records

/**
 * A workspace record in `state`, entered at `at` (default T0), with the deadline and due time the
 * lifecycle would give it. Fields in `patch` override (then dueAt is recomputed unless patched too).
 * Returned as a store would return it (no undefined fields).
 */
export function makeWorkspace(
  state: WorkspaceState,
  patch: Partial<Workspace> = {},
  options: { readonly at?: Date; readonly policy?: LifecyclePolicy } = {},
): Workspace {
  const at = options.at ?? T0;
  const policy = options.policy ?? TEST_POLICY;
  const iso = at.toISOString();
  const running = state === 'provisioning' || state === 'ready' || state === 'stopping' || state === 'stopped' || state === 'terminating';
  const base: Workspace = {
    analysisId: 'demo',
    userId: 'alice',
    workspaceId: 'wsalice0000000000000',
    state,
    generation: 1,
    version: 3,
    tool: 'jupyter',
    size: 'small',
    hostLabel: 'ws-alicelabel00000',
    hostname: running ? `ws-alicelabel00000.${DESK_DOMAIN}` : undefined,
    instanceId: running ? 'i-alice0001' : undefined,
    address: running ? '10.0.0.1:8443' : undefined,
    createdAt: iso,
    stateEnteredAt: iso,
    deadlineAt: deadlineFor(state, at, policy),
    lastActivityAt: state === 'ready' ? iso : undefined,
    resumed: false,
    ...patch,
  };
  return plain('dueAt' in patch ? base : { ...base, dueAt: dueAtFor(base, policy) });
}

/** Tags of an instance of `ws` (as the launch would set them). */
export function tagsOf(ws: Pick<Workspace, 'analysisId' | 'userId' | 'workspaceId' | 'generation'>, deploymentId = DEPLOYMENT_ID) {
  return workspaceTags(ws, deploymentId);
}

/**
 * Drive a workspace through the real use cases to `ready`: open, then the `running` and `tool-ready`
 * events a compute adapter would send. Returns the ready record.
 */
export async function openToReady(deps: WorkspaceDeps, user: User, analysisId: string, address = '10.0.0.1:8443'): Promise<Workspace> {
  const opened = await openWorkspace(deps, user, analysisId);
  const instanceId = opened.instanceId;
  if (!instanceId) throw new Error(`open did not record an instance (state ${opened.state}, reason ${opened.reason ?? '-'})`);
  await handleComputeEvent(deps, { kind: 'running', instanceId, address });
  await handleComputeEvent(deps, { kind: 'tool-ready', instanceId });
  const ready = await deps.store.get({ analysisId, userId: user.userId });
  if (ready?.state !== 'ready') throw new Error(`workspace did not become ready (state ${ready?.state})`);
  return ready;
}

/**
 * Put `ws` in the store and make the cloud agree with it: its instance (if any) exists with its tags,
 * in the state a record in `ws.state` implies, and its hostname is published while it runs.
 */
export function seedWorkspace(deps: Pick<FakeDeps, 'store' | 'compute' | 'hostnames' | 'deploymentId'>, ws: Workspace): Workspace {
  deps.store.seed(ws);
  if (ws.instanceId && !deps.compute.instances.has(ws.instanceId)) {
    const state: InstanceView['state'] =
      ws.state === 'stopped' ? 'stopped' : ws.state === 'stopping' ? 'stopping' : ws.state === 'terminated' ? 'terminated' : ws.state === 'starting' ? 'pending' : 'running';
    deps.compute.addInstance({ instanceId: ws.instanceId, state, tags: tagsOf(ws, deps.deploymentId) });
  }
  if (ws.hostname && ws.address && (ws.state === 'provisioning' || ws.state === 'ready')) deps.hostnames.records.set(ws.hostname, ws.address);
  return ws;
}
