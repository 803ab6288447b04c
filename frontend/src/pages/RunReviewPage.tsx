import { useEffect, useId, useState, type ReactNode } from 'react';
import { runsApi } from '../api.js';
import { FileView } from '../components/FileView.js';
import { Layout, MessagePanel } from '../components/Layout.js';
import { useNow, usePolled } from '../hooks.js';
import {
  approvalsText,
  decisionLine,
  formatBytes,
  formatDuration,
  isRunFinished,
  runStateLabel,
  runStateTone,
  shortDigest,
  stepLabel,
  waitingSeconds,
} from '../logic/runs.js';
import { commentError, decisionDigest, detailPollDelay, outputFindings } from '../logic/review.js';
import type { RunDetailJson, Verdict } from '../runs-types.js';
import { SignOutLink } from './SignOutPage.js';

/** /review/runs/<id>: one run's files, diff, outputs and the decision. */
export function RunReviewPage({ id }: { id: string }) {
  const detail = usePolled(() => runsApi.detail(id), (data, failures) => detailPollDelay(data, failures), [id]);
  useEffect(() => {
    document.title = `Review ${detail.data?.run.description ?? id} · carrel`;
  }, [id, detail.data?.run.description]);

  let body;
  if (!detail.data) {
    body = detail.error ? (
      <MessagePanel title="Could not show this run" tone="error" testId="run-error">
        <p>{detail.error}</p>
        <p>
          <a href="/review">Back to the review queue</a>
        </p>
      </MessagePanel>
    ) : (
      <p role="status" className="muted">
        Loading the run…
      </p>
    );
  } else body = <RunReview detail={detail.data} onDecided={detail.reload} />;
  return (
    <Layout
      wide
      actions={
        <>
          <a href="/review">Review queue</a>
          <SignOutLink />
        </>
      }
    >
      {body}
    </Layout>
  );
}

function RunReview({ detail, onDecided }: { detail: RunDetailJson; onDecided: () => void }) {
  const now = useNow();
  const { run, step } = detail;
  const [tab, setTab] = useState<'code' | 'outputs'>(step === 'output-review' || (detail.outputs && !step) ? 'outputs' : 'code');
  const waited = waitingSeconds(run, now);
  const [decided, setDecided] = useState<string | undefined>();
  return (
    <article className="run-review" data-testid="run-review" data-run-id={run.id} data-state={run.state}>
      <header className="run-review-head">
        <p className="muted small">
          {run.analysisId} · {run.runId}
        </p>
        <h1>{run.description}</h1>
        <p>
          <span className={`state-pill state-${runStateTone(run.state)}`} data-testid="run-state">
            {runStateLabel(run.state)}
          </span>{' '}
          submitted by <strong>{run.submittedBy}</strong> on <time dateTime={run.createdAt}>{new Date(run.createdAt).toLocaleString()}</time>
          {waited !== undefined ? <span> · waiting {formatDuration(waited)}</span> : null}
        </p>
        {step ? (
          <p data-testid="approvals">
            {stepLabel(step)}: {approvalsText(run.decisions, step, detail.requiredApprovals)}
          </p>
        ) : null}
        {run.failure ? (
          <p className="form-error" role="alert">
            {run.failure.message}
          </p>
        ) : null}
      </header>

      {/* The answer stays when the re-read run has moved on (no step any more), until the page is left. */}
      {decided ? (
        <section className="panel decision" aria-label="Decision" data-testid="decision-done">
          <p role="status">{decided}</p>
          <p>
            <a href="/review">Back to the review queue</a>
          </p>
        </section>
      ) : step ? (
        <DecisionPanel
          detail={detail}
          onDecided={(message) => {
            setDecided(message);
            onDecided();
          }}
        />
      ) : null}

      <div className="tabs" role="tablist" aria-label="What to review">
        <button type="button" role="tab" aria-selected={tab === 'code'} className="tab" onClick={() => setTab('code')} data-testid="tab-code">
          Code ({detail.manifest ? `${detail.manifest.files.length} files` : 'not archived'})
        </button>
        {detail.outputs ? (
          <button type="button" role="tab" aria-selected={tab === 'outputs'} className="tab" onClick={() => setTab('outputs')} data-testid="tab-outputs">
            Outputs ({detail.outputs.files.length} files{detail.findings.length ? `, ${detail.findings.length} flagged` : ''})
          </button>
        ) : null}
      </div>
      <div role="tabpanel">
        {tab === 'outputs' && detail.outputs ? (
          <OutputsTab detail={detail} />
        ) : detail.manifest ? (
          <CodeTab detail={detail} manifest={detail.manifest} />
        ) : (
          <p className="muted" data-testid="not-archived">
            {run.state === 'archiving' ? 'The home is being archived; its files show here once they are stored and checked.' : 'No files were archived for this run.'}
          </p>
        )}
      </div>

      <History detail={detail} />
    </article>
  );
}

function CodeTab({ detail, manifest }: { detail: RunDetailJson; manifest: NonNullable<RunDetailJson['manifest']> }) {
  const files = manifest.files;
  const [selected, setSelected] = useState(files.find((f) => f.change !== 'unchanged')?.path ?? files[0]?.path);
  const selectedFile = files.find((f) => f.path === selected);
  const { diff } = detail;
  return (
    <section aria-label="Submitted code" data-testid="code-tab">
      <p data-testid="diff-summary">
        {diff.baseline ? (
          <>
            Against the last approved submission (<time dateTime={diff.baseline.createdAt}>{new Date(diff.baseline.createdAt).toLocaleString()}</time>):{' '}
            <span className="change change-added">{diff.added.length} added</span>, <span className="change change-changed">{diff.changed.length} changed</span>,{' '}
            <span className="change change-removed">{diff.removed.length} removed</span>.
          </>
        ) : (
          <>No earlier approved submission of this analysis: every file is new.</>
        )}{' '}
        <span className="muted">
          {files.length} files, {formatBytes(manifest.totalBytes)}, manifest <code title={manifest.digest}>{shortDigest(manifest.digest)}</code>
        </span>
      </p>
      <div className="review-split">
        <table className="table manifest" data-testid="manifest">
          <ManifestHead caption="Manifest of the submitted files" />
          <tbody>
            {files.map((file) => (
              <ManifestRow
                key={file.path}
                file={file}
                selected={file.path === selected}
                onSelect={setSelected}
                testId="manifest-row"
                change={file.change}
                badge={file.change !== 'unchanged' && diff.baseline ? <> <span className={`change change-${file.change}`}>{file.change}</span></> : null}
              />
            ))}
            {diff.removed.map((path) => (
              <tr key={`removed:${path}`} className="removed" data-testid="manifest-row" data-path={path} data-change="removed">
                <td>
                  <del>{path}</del> <span className="change change-removed">removed</span>
                </td>
                <td />
                <td />
              </tr>
            ))}
          </tbody>
        </table>
        {selectedFile ? (
          <FileView
            id={detail.run.id}
            path={selectedFile.path}
            from="code"
            withDiff={!!diff.baseline && selectedFile.change === 'changed'}
            threshold={detail.smallCountThreshold}
            findings={[]}
          />
        ) : (
          <p className="muted">No files were submitted.</p>
        )}
      </div>
    </section>
  );
}

function OutputsTab({ detail }: { detail: RunDetailJson }) {
  const outputs = detail.outputs!;
  const flaggedFirst = outputs.files.find((f) => outputFindings(detail, f.path).length > 0);
  const [selected, setSelected] = useState(flaggedFirst?.path ?? outputs.files[0]?.path);
  return (
    <section aria-label="Outputs" data-testid="outputs-tab">
      {detail.findings.length > 0 ? (
        <div className="flag-summary" role="note" data-testid="findings">
          <p>
            <strong>
              <span aria-hidden="true">⚠ </span>The automated checks flagged {detail.findings.length} possible disclosure risk{detail.findings.length === 1 ? '' : 's'}
            </strong>{' '}
            (counts below {detail.smallCountThreshold}):
          </p>
          <ul>
            {detail.findings.map((finding, index) => (
              <li key={index} data-testid="finding">
                <code>{finding.path}</code> {finding.where}: {finding.detail}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="muted">The automated checks flagged nothing. Read the outputs all the same.</p>
      )}
      <p className="muted">
        {outputs.files.length} files, {formatBytes(outputs.totalBytes)}, outputs manifest <code title={outputs.digest}>{shortDigest(outputs.digest)}</code>
      </p>
      <div className="review-split">
        <table className="table manifest" data-testid="outputs-manifest">
          <ManifestHead caption="Manifest of the outputs" />
          <tbody>
            {outputs.files.map((file) => {
              const count = outputFindings(detail, file.path).length;
              return (
                <ManifestRow
                  key={file.path}
                  file={file}
                  selected={file.path === selected}
                  onSelect={setSelected}
                  testId="output-row"
                  badge={count ? <span className="change change-removed"> ⚠ {count}</span> : null}
                />
              );
            })}
          </tbody>
        </table>
        {selected ? (
          <FileView id={detail.run.id} path={selected} from="outputs" withDiff={false} threshold={detail.smallCountThreshold} findings={outputFindings(detail, selected)} />
        ) : (
          <p className="muted">The run wrote no outputs.</p>
        )}
      </div>
    </section>
  );
}

function DecisionPanel({ detail, onDecided }: { detail: RunDetailJson; onDecided: (message: string) => void }) {
  const step = detail.step!;
  const [comment, setComment] = useState('');
  const [sending, setSending] = useState<Verdict | undefined>();
  const [error, setError] = useState<string | undefined>();
  const commentId = useId();
  const errorId = useId();

  if (!detail.mayDecide) {
    return (
      <section className="panel decision" aria-label="Decision" data-testid="no-decision">
        <p>{detail.why ?? 'You cannot decide on this run.'}</p>
      </section>
    );
  }

  async function decide(verdict: Verdict) {
    const invalid = commentError(verdict, comment);
    if (invalid) return setError(invalid);
    setSending(verdict);
    setError(undefined);
    const result = await runsApi.decide(detail.run.id, { verdict, comment: comment.trim(), manifestDigest: decisionDigest(detail) });
    setSending(undefined);
    if (!result.ok) return setError(result.message);
    onDecided(
      result.data.outcome === 'pending'
        ? `Your approval is recorded. ${approvalsText(result.data.run.decisions, step, detail.requiredApprovals)}: another reviewer must approve too.`
        : `${step === 'code-review' ? 'The code is' : 'The outputs are'} ${result.data.outcome}.`,
    );
  }

  return (
    <section className="panel decision" aria-labelledby={`${commentId}-title`} data-testid="decision">
      <h2 id={`${commentId}-title`}>Your decision: {stepLabel(step).toLowerCase()}</h2>
      <p className="muted small">
        {step === 'code-review'
          ? 'Approving lets this code run with the real data.'
          : 'Approving releases these outputs, byte for byte, to the researcher.'}{' '}
        Your decision is recorded with the digest of what you saw.
      </p>
      <div className="field">
        <label htmlFor={commentId}>Comment (required to reject)</label>
        <textarea
          id={commentId}
          rows={3}
          value={comment}
          onChange={(event) => setComment(event.target.value)}
          aria-invalid={error && !comment.trim() ? 'true' : undefined}
          aria-describedby={error ? errorId : undefined}
          data-testid="decision-comment-input"
        />
      </div>
      {error ? (
        <p id={errorId} className="form-error" role="alert" data-testid="decision-error">
          {error}
        </p>
      ) : null}
      <div className="dialog-actions">
        <button type="button" className="button button-danger" onClick={() => void decide('reject')} disabled={!!sending} data-testid="reject">
          {sending === 'reject' ? 'Rejecting…' : 'Reject'}
        </button>
        <button type="button" className="button button-primary" onClick={() => void decide('approve')} disabled={!!sending} data-testid="approve">
          {sending === 'approve' ? 'Approving…' : 'Approve'}
        </button>
      </div>
    </section>
  );
}

function History({ detail }: { detail: RunDetailJson }) {
  if (detail.run.decisions.length === 0 && detail.audit.length === 0) return null;
  return (
    <section className="history" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <ol data-testid="audit">
        {detail.audit.length
          ? detail.audit.map((entry, index) => (
              <li key={index}>
                <time dateTime={entry.at}>{new Date(entry.at).toLocaleString()}</time> · {entry.actor} · {entry.action}
                {entry.step ? ` (${entry.step})` : ''}
                {entry.comment ? <q className="decision-comment">{entry.comment}</q> : null}
                {entry.manifestDigest ? <span className="muted small"> · {shortDigest(entry.manifestDigest)}</span> : null}
              </li>
            ))
          : detail.run.decisions.map((decision, index) => (
              <li key={index}>
                <time dateTime={decision.at}>{new Date(decision.at).toLocaleString()}</time> · {decisionLine(decision)}
                {decision.comment ? <q className="decision-comment">{decision.comment}</q> : null}
              </li>
            ))}
      </ol>
    </section>
  );
}

/** Caption and header row of a manifest table (path, size, sha256). */
/** One file of a manifest table: its path selects it for the file view, then its size and digest. */
function ManifestRow(props: {
  readonly file: { readonly path: string; readonly size: number; readonly sha256: string };
  readonly selected: boolean;
  readonly onSelect: (path: string) => void;
  readonly testId: string;
  /** The code's change against the baseline (`data-change`), where there is one. */
  readonly change?: string;
  /** Shown after the path (the change, or the count of findings). */
  readonly badge: ReactNode;
}) {
  const { file, selected } = props;
  return (
    <tr className={selected ? 'selected' : undefined} data-testid={props.testId} data-path={file.path} data-change={props.change}>
      <td>
        <button type="button" className="link-button" aria-current={selected} onClick={() => props.onSelect(file.path)}>
          {file.path}
        </button>
        {props.badge}
      </td>
      <td className="number">{formatBytes(file.size)}</td>
      <td>
        <code title={file.sha256}>{shortDigest(file.sha256)}</code>
      </td>
    </tr>
  );
}

function ManifestHead({ caption }: { readonly caption: string }) {
  return (
    <>
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Path</th>
          <th scope="col">Size</th>
          <th scope="col">sha256</th>
        </tr>
      </thead>
    </>
  );
}
