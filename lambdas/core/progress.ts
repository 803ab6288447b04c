import { idleVerdict, type LifecyclePolicy } from './policy.js';
import type { Workspace, WorkspaceState } from './workspace.js';

/** Typical seconds each visible step takes on a deployment; the page's "time left" comes from these. */
export interface StepEstimates {
  readonly reserving: number;
  readonly starting: number;
  readonly connecting: number;
}

export const DEFAULT_ESTIMATES: StepEstimates = { reserving: 30, starting: 20, connecting: 2 };

export type StepStatus = 'done' | 'active' | 'pending' | 'failed';

export interface ProgressStep {
  readonly id: keyof StepEstimates;
  readonly label: string;
  readonly status: StepStatus;
}

/** What the front desk shows about a workspace; built from the record alone (no cloud call). */
export interface WorkspaceView {
  readonly analysisId: string;
  readonly workspaceId: string;
  readonly state: WorkspaceState;
  readonly tool: string;
  readonly hostname?: string;
  readonly reason?: string;
  readonly steps: readonly ProgressStep[];
  readonly estimatedSecondsLeft: number;
  readonly stateEnteredAt: string;
  readonly idle?: { readonly stopAt: string; readonly warnAt: string };
  readonly resumed: boolean;
}

export function toolLabel(tool: string): string {
  const known: Record<string, string> = { jupyter: 'Jupyter', rstudio: 'RStudio' };
  return known[tool] ?? tool;
}

const ACTIVE_STEP: Partial<Record<WorkspaceState, number>> = { starting: 0, provisioning: 1, ready: 2 };

export function describeWorkspace(ws: Workspace, now: Date, policy: LifecyclePolicy, estimates: StepEstimates): WorkspaceView {
  const labels: [keyof StepEstimates, string][] = [
    ['reserving', ws.resumed ? 'Resuming' : 'Reserving'],
    ['starting', `Starting ${toolLabel(ws.tool)}`],
    ['connecting', 'Connecting'],
  ];
  const active = ACTIVE_STEP[ws.state];
  const failedAt = ws.state === 'failed' ? failedStep(ws) : undefined;
  const steps = labels.map(([id, label], index): ProgressStep => {
    if (failedAt !== undefined) return { id, label, status: index < failedAt ? 'done' : index === failedAt ? 'failed' : 'pending' };
    if (active === undefined) return { id, label, status: 'pending' };
    return { id, label, status: index < active ? 'done' : index === active ? 'active' : 'pending' };
  });
  let left = 0;
  if (active !== undefined && ws.state !== 'ready') {
    const inStep = (now.getTime() - Date.parse(ws.stateEnteredAt)) / 1000;
    left = Math.max(1, estimates[labels[active][0]] - inStep);
    for (let i = active + 1; i < labels.length; i++) left += estimates[labels[i][0]];
  }
  let idle: WorkspaceView['idle'];
  if (ws.state === 'ready') {
    const verdict = idleVerdict(ws.lastActivityAt ?? ws.stateEnteredAt, now, policy);
    const stopAt = verdict.kind === 'idle' ? now.toISOString() : verdict.stopAt;
    idle = { stopAt, warnAt: new Date(Date.parse(stopAt) - policy.idleWarningMs).toISOString() };
  }
  return {
    analysisId: ws.analysisId,
    workspaceId: ws.workspaceId,
    state: ws.state,
    tool: ws.tool,
    hostname: ws.state === 'ready' ? ws.hostname : undefined,
    reason: ws.reason,
    steps,
    estimatedSecondsLeft: Math.round(left),
    stateEnteredAt: ws.stateEnteredAt,
    idle,
    resumed: ws.resumed ?? false,
  };
}

/** A failure before the instance ran is a reserving failure; after, a tool failure. */
function failedStep(ws: Workspace): number {
  return ws.address ? 1 : 0;
}
