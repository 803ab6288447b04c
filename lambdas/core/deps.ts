import type { PoolPolicy } from './pool.js';
import type { LifecyclePolicy } from './policy.js';
import type { AnalysisCatalog, Clock, ComputePort, HomesPort, HostnamesPort, Log, ProvisionerPort, SpareStore, TaskIdentityPort, WorkspaceStore } from './ports.js';

/** Everything the workspace use cases need, injected by an entry point (Lambda or local runtime). */
export interface WorkspaceDeps {
  readonly store: WorkspaceStore;
  readonly compute: ComputePort;
  readonly homes: HomesPort;
  readonly hostnames: HostnamesPort;
  /** Prepares instances after they run (EC2, Fargate); absent where compute prepares itself (local). */
  readonly provisioner?: ProvisionerPort;
  /** Proves which workspace task asks for its settings (Fargate); absent where tasks get them otherwise. */
  readonly taskIdentity?: TaskIdentityPort;
  readonly catalog: AnalysisCatalog;
  readonly clock: Clock;
  readonly policy: LifecyclePolicy;
  readonly log: Log;
  /** Tag value that marks every resource of this deployment (for reconciliation). */
  readonly deploymentId: string;
  /** The warm pool of spare instances (core/pool.ts); absent: every open launches or resumes its own. */
  readonly pool?: WarmPool;
}

export interface WarmPool {
  readonly store: SpareStore;
  readonly policy: PoolPolicy;
}
