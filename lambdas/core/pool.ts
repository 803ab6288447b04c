/**
 * The warm pool: running spare instances, prepared and with a hostname already published, that an open
 * takes over instead of launching (or resuming) an instance. It exists for speed alone: a spare's
 * hostname propagated long ago and its host is booted, so a workspace on a spare is ready as soon as its
 * home is mounted and its tool started (seconds), where starting a stopped instance costs its boot and a
 * new hostname's propagation (tens of seconds).
 *
 * A spare is never shared: once taken it belongs to that workspace for the rest of its life (stopped,
 * resumed, terminated like any other instance), and the pool launches a fresh spare in its place.
 *
 *   launching ──(instance launched)──► warming ──(running: hostname published)──► available
 *        available ──(an open claims it)──► claimed ──(the workspace record owns the instance)──► gone
 * A spare that is late (warming too long), old (past its maximum age) or whose instance stopped is retired:
 * instance terminated, hostname removed, record deleted.
 */
import type { WorkspaceKey } from './workspace.js';

export const SPARE_STATES = ['launching', 'warming', 'available', 'claimed'] as const;
export type SpareState = (typeof SPARE_STATES)[number];

export interface Spare {
  /** The workspace size (instance types) this spare was launched for. */
  readonly size: string;
  /** Random id; `spare-<id>` is the launch's idempotency token. */
  readonly spareId: string;
  readonly state: SpareState;
  /** Optimistic-concurrency counter, as on workspace records. */
  readonly version: number;
  /** `ws-<random>` label of the hostname published for this spare (the taking workspace keeps it). */
  readonly hostLabel: string;
  readonly instanceId?: string;
  /** ip:port of the gate, known once the instance runs. */
  readonly address?: string;
  readonly createdAt: string;
  readonly stateEnteredAt: string;
  /** When the hostname was published (the spare is handed out once that has propagated). */
  readonly publishedAt?: string;
  /** The workspace generation that claimed it (state `claimed`). */
  readonly claimedBy?: WorkspaceKey & { readonly generation: number };
}

export interface PoolPolicy {
  /** How many available-or-coming spares to keep per size; sizes not named keep none. */
  readonly targets: Readonly<Record<string, number>>;
  /** A spare not available this long after its record was created is retired (and replaced). */
  readonly warmupMs: number;
  /** A spare older than this is replaced, so spares pick up a new image or patches. */
  readonly maxAgeMs: number;
  /**
   * Time from publishing a spare's hostname until it is handed out. Route 53 propagates a change to every
   * authoritative server within 60 s; a resolver asked earlier would cache NXDOMAIN for minutes.
   */
  readonly propagationMs: number;
  /** A claim whose open never completed (the function died) is undone after this. */
  readonly claimGraceMs: number;
  /**
   * Resume a stopped workspace on a spare (its stopped instance is then terminated). False keeps resuming
   * the stopped instance itself, which is slower but keeps what hibernation saved (running kernels).
   */
  readonly forResume: boolean;
}

export const DEFAULT_POOL_POLICY: PoolPolicy = {
  targets: {},
  warmupMs: 10 * 60_000,
  maxAgeMs: 24 * 3_600_000,
  propagationMs: 60_000,
  claimGraceMs: 2 * 60_000,
  forResume: true,
};

/** Tag on a spare instance: its spare id (removed when a workspace takes it). */
export const SPARE_TAG = 'carrel:spare';
/** Tag on a spare instance: its size. */
export const SPARE_SIZE_TAG = 'carrel:size';

export function spareTags(spare: Pick<Spare, 'spareId' | 'size'>, deploymentId: string): Record<string, string> {
  return { 'carrel:deployment': deploymentId, [SPARE_TAG]: spare.spareId, [SPARE_SIZE_TAG]: spare.size };
}

/** The spare a tagged instance was launched as, if it still carries the spare tags. */
export function spareFromTags(tags: Readonly<Record<string, string>>): { readonly size: string; readonly spareId: string } | undefined {
  const spareId = tags[SPARE_TAG];
  const size = tags[SPARE_SIZE_TAG];
  return spareId && size ? { spareId, size } : undefined;
}

/** Why `spare` should be retired at `now`, or undefined while it is fine. */
export function spareExpiry(spare: Spare, now: Date, policy: PoolPolicy): string | undefined {
  const age = now.getTime() - Date.parse(spare.createdAt);
  const inState = now.getTime() - Date.parse(spare.stateEnteredAt);
  switch (spare.state) {
    case 'launching':
    case 'warming':
      return age > policy.warmupMs ? `not available ${Math.round(policy.warmupMs / 1000)} s after launch` : undefined;
    case 'available':
      return age > policy.maxAgeMs ? 'past its maximum age' : undefined;
    case 'claimed':
      return inState > policy.claimGraceMs ? 'claimed by an open that never completed' : undefined;
  }
}

/** An available spare that may be handed out at `now` (its hostname has propagated). */
export function isClaimable(spare: Spare, now: Date, policy: PoolPolicy): boolean {
  return (
    spare.state === 'available' &&
    spare.instanceId !== undefined &&
    spare.address !== undefined &&
    spare.publishedAt !== undefined &&
    now.getTime() - Date.parse(spare.publishedAt) >= policy.propagationMs &&
    spareExpiry(spare, now, policy) === undefined
  );
}
