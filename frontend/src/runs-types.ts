/** The enclave runs API as the desk page sees it (docs/contracts.md, "Enclave runs: the desk's API"). */
import type { RunViewJson } from '../../lambdas/handlers/runs.js';
import type { ReviewStep, RunState, Verdict } from '../../lambdas/core/runs/run.js';

export type { ReviewStep, RunState, Verdict };

/** What every route shows of a run: the server's own type, so a change there fails the front desk's typecheck. */
export type { RunViewJson };

export type DecisionJson = RunViewJson['decisions'][number];

export interface QueueEntryJson extends RunViewJson {
  readonly step: ReviewStep;
  readonly waitingSeconds: number;
  readonly mayDecide: boolean;
  readonly why?: string;
}

export interface QueueJson {
  readonly serverTime: string;
  readonly runs: readonly QueueEntryJson[];
}

export type FileChange = 'added' | 'changed' | 'unchanged';

export interface FindingJson {
  readonly path: string;
  readonly where: string;
  readonly rule: string;
  readonly detail: string;
}

export interface RunDetailJson {
  readonly run: RunViewJson;
  readonly step?: ReviewStep;
  readonly mayDecide: boolean;
  readonly why?: string;
  readonly requiredApprovals: number;
  readonly smallCountThreshold: number;
  /** Absent until the home is archived (an `archiving` run, or one that failed there). */
  readonly manifest?: {
    readonly digest: string;
    readonly totalBytes: number;
    readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string; readonly change: FileChange }[];
  };
  readonly diff: {
    readonly baseline: { readonly id: string; readonly createdAt: string } | null;
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly string[];
  };
  readonly outputs?: {
    readonly digest: string;
    readonly totalBytes: number;
    readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string; readonly findings: readonly FindingJson[] }[];
  };
  readonly findings: readonly FindingJson[];
  readonly audit: readonly { readonly at: string; readonly actor: string; readonly action: string; readonly step?: string; readonly comment?: string; readonly manifestDigest?: string }[];
}

export type FileSource = 'code' | 'outputs';

export interface FileViewJson {
  readonly path: string;
  readonly from: FileSource;
  readonly size: number;
  readonly sha256: string;
  readonly kind: 'text' | 'binary';
  readonly mediaType: string;
  readonly text?: string;
  readonly base64?: string;
  readonly truncated: boolean;
  readonly diff?: { readonly baseline: string | { readonly id: string } | null; readonly unified: string };
}

export interface DecisionResultJson {
  readonly run: RunViewJson;
  readonly outcome: 'approved' | 'rejected' | 'pending';
}

export interface OutboxMessageJson {
  readonly at: string;
  readonly notice: string;
  readonly analysisId: string;
  readonly runId: string;
  readonly to: string;
  readonly message: string;
  readonly link?: string;
}
