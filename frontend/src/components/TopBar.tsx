import type { ReactNode } from 'react';
import { stateLabel, toolLabel } from '../logic/format.js';
import type { WorkspaceViewJson } from '../types.js';

const STOPPABLE = new Set(['starting', 'provisioning', 'ready']);

/** The slim bar above the tool: analysis, workspace state, Stop. */
export function TopBar({
  title,
  view,
  connected,
  stopping,
  onStop,
  actions,
}: {
  title: string;
  view?: WorkspaceViewJson;
  connected: boolean;
  stopping: boolean;
  onStop: () => void;
  /** More buttons after the state (the enclave's submit and runs). */
  actions?: ReactNode;
}) {
  const state = !view ? 'Loading' : view.state === 'ready' ? (connected ? 'Connected' : 'Connecting…') : stateLabel(view.state);
  const tone = !view ? 'pending' : view.state === 'ready' ? (connected ? 'ok' : 'pending') : view.state === 'failed' ? 'error' : 'pending';
  return (
    <header className="top-bar">
      <a className="brand" href="/" title="All analyses">
        carrel
      </a>
      <span className="top-bar-title" title={title}>
        {title}
        {view ? <span className="top-bar-tool"> · {toolLabel(view.tool)}</span> : null}
      </span>
      <span className={`state-pill state-${tone}`} data-testid="workspace-state">
        {state}
      </span>
      {actions}
      {view && STOPPABLE.has(view.state) ? (
        <button type="button" className="button button-small" onClick={onStop} disabled={stopping} data-testid="stop">
          {stopping ? 'Stopping…' : 'Stop'}
        </button>
      ) : null}
    </header>
  );
}
