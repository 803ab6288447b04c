import { progressAnnouncement, progressSummary, stepRows } from '../logic/steps.js';
import type { WorkspaceViewJson } from '../types.js';
import { toolLabel } from '../logic/format.js';

/** Named steps with their state, elapsed time and the estimate of time left. */
export function ProgressPanel({
  view,
  connected,
  now,
  waitStartedAt,
  overlay = false,
}: {
  view: WorkspaceViewJson;
  connected: boolean;
  now: number;
  waitStartedAt?: number;
  overlay?: boolean;
}) {
  const rows = stepRows(view, connected);
  const summary = progressSummary(view, waitStartedAt, now);
  return (
    <div className={overlay ? 'progress-overlay' : 'progress-page'}>
      <section className="panel progress" data-testid="progress" aria-labelledby="progress-title" aria-busy="true">
        <h1 id="progress-title">{view.resumed ? 'Resuming' : 'Opening'} your {toolLabel(view.tool)} workspace</h1>
        <ol className="steps">
          {rows.map((row) => (
            <li key={row.id} className={`step step-${row.status}`} data-testid="progress-step" data-step={row.id} data-status={row.status}>
              <span className="step-icon" aria-hidden="true">
                {row.status === 'active' ? <span className="spinner" /> : row.icon}
              </span>
              <span className="step-label">{row.label}</span>
              <span className="visually-hidden"> ({row.statusText})</span>
            </li>
          ))}
        </ol>
        <p className="visually-hidden" role="status" aria-live="polite">
          {progressAnnouncement(rows)}
        </p>
        <p className="progress-times">
          <span data-testid="elapsed">Elapsed {summary.elapsed}</span>
          <span className="dot" aria-hidden="true">
            ·
          </span>
          <span data-testid="time-left">{summary.timeLeft}</span>
        </p>
      </section>
    </div>
  );
}
