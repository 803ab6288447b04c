import { useEffect } from 'react';
import { runsApi } from '../api.js';
import { Layout, MessagePanel } from '../components/Layout.js';
import { OutboxLink } from '../components/RunsPanel.js';
import { usePolled } from '../hooks.js';
import { formatDuration, QUEUE_POLL_MS, stepLabel } from '../logic/runs.js';
import { reviewRunPath } from '../logic/routes.js';
import { SignOutLink } from './SignOutPage.js';

/** /review: runs waiting for code or output review across analyses, oldest first. */
export function ReviewQueuePage() {
  useEffect(() => {
    document.title = 'Review queue · carrel';
  }, []);
  const queue = usePolled(() => runsApi.queue(), (_data, failures) => (failures ? Math.min(60_000, QUEUE_POLL_MS * 2 ** failures) : QUEUE_POLL_MS), []);

  let body;
  if (queue.error && (!queue.data || queue.status === 403)) {
    body = (
      <MessagePanel title={queue.status === 403 ? 'The review console is for reviewers' : 'Could not load the review queue'} tone="error" testId="queue-error">
        <p>{queue.error}</p>
      </MessagePanel>
    );
  } else if (!queue.data) {
    body = (
      <p role="status" className="muted">
        Loading the review queue…
      </p>
    );
  } else {
    const runs = queue.data.runs;
    body = (
      <section aria-labelledby="queue-title" data-testid="review-queue">
        <h1 id="queue-title">Waiting for review</h1>
        {queue.error ? (
          <p className="form-error" role="alert">
            {queue.error}
          </p>
        ) : null}
        {runs.length === 0 ? (
          <p className="muted" data-testid="queue-empty">
            Nothing is waiting for review. New submissions appear here by themselves.
          </p>
        ) : (
          <table className="table queue">
            <caption className="visually-hidden">Runs waiting for review, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Waiting</th>
                <th scope="col">Step</th>
                <th scope="col">Analysis</th>
                <th scope="col">Run</th>
                <th scope="col">Submitted by</th>
                <th scope="col">
                  <span className="visually-hidden">Your part</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.map((run) => {
                const approvals = run.decisions.filter((d) => d.step === run.step && d.verdict === 'approve').length;
                return (
                  <tr key={`${run.id}:${run.step}`} data-testid="queue-row" data-run-id={run.id} data-step={run.step}>
                    <td data-testid="queue-waiting">{formatDuration(run.waitingSeconds)}</td>
                    <td>
                      <span className={`state-pill state-waiting`}>{stepLabel(run.step)}</span>
                    </td>
                    <td>{run.analysisId}</td>
                    <td>
                      <a href={reviewRunPath(run.id)} data-testid="queue-open">
                        {run.description}
                      </a>
                      <div className="muted small">
                        {run.runId}
                        {run.step === 'output-review' && run.findingsCount > 0 ? (
                          <span className="flag-text">
                            {' '}
                            · {run.findingsCount} disclosure finding{run.findingsCount === 1 ? '' : 's'}
                          </span>
                        ) : null}
                      </div>
                    </td>
                    <td>{run.submittedBy}</td>
                    <td className="muted small">
                      {run.mayDecide ? (approvals > 0 ? `${approvals} approval${approvals === 1 ? '' : 's'} so far` : 'Needs your decision') : run.why}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    );
  }
  return (
    <Layout
      wide
      actions={
        <>
          {/* Local mode: the "review needed" mail reviewers would get */}
          <OutboxLink />
          <SignOutLink />
        </>
      }
    >
      {body}
    </Layout>
  );
}
