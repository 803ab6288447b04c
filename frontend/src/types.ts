import type { ProgressStep, StepStatus, WorkspaceView } from '../../lambdas/core/progress.js';
import type { WorkspaceState } from '../../lambdas/core/workspace.js';

export type { ProgressStep, StepStatus, WorkspaceState };

/** The WorkspaceView JSON the API returns (docs/contracts.md): core view + url, serverTime, heartbeatSeconds. */
export interface WorkspaceViewJson extends WorkspaceView {
  /** Where the tool answers, through the gate; present when `ready`. */
  readonly url?: string;
  /** The server's clock when it answered (ISO); the page corrects its own clock with it. */
  readonly serverTime: string;
  /** How often a visible, used page sends a heartbeat. */
  readonly heartbeatSeconds: number;
}

export interface AnalysisSummary {
  readonly analysisId: string;
  readonly title: string;
  readonly tool: string;
}

export interface MeResponse {
  readonly user: { readonly userId: string; readonly name: string; readonly roles: readonly string[] };
  readonly analyses: readonly AnalysisSummary[];
}

export type ErrorCode = 'not_allowed' | 'not_found' | 'invalid_request' | 'unauthenticated' | 'conflict' | 'unavailable' | 'internal';
