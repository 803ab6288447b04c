import type { WorkspaceViewJson } from '../types.js';
import { formatCountdown } from './format.js';

export interface IdleCountdown {
  /** True from the moment the server clock reaches `idle.warnAt` while the workspace is ready. */
  readonly show: boolean;
  readonly remainingMs: number;
  /** m:ss until the idle stop. */
  readonly remaining: string;
  readonly text: string;
}

const HIDDEN: IdleCountdown = { show: false, remainingMs: 0, remaining: '', text: '' };

/** The idle warning for a view at the given server time (local time + skew). */
export function idleCountdown(view: Pick<WorkspaceViewJson, 'state' | 'idle'> | undefined, serverNow: number): IdleCountdown {
  if (!view || view.state !== 'ready' || !view.idle) return HIDDEN;
  const warnAt = Date.parse(view.idle.warnAt);
  const stopAt = Date.parse(view.idle.stopAt);
  if (Number.isNaN(warnAt) || Number.isNaN(stopAt) || serverNow < warnAt) return HIDDEN;
  const remainingMs = Math.max(0, stopAt - serverNow);
  const remaining = formatCountdown(remainingMs);
  return { show: true, remainingMs, remaining, text: `Your workspace will stop in ${remaining} because it looks idle` };
}
