import { useEffect, useState } from 'react';
import { runsApi } from '../api.js';
import {
  decisionLine,
  expiryText,
  fileDownloadUrl,
  formatBytes,
  formatDuration,
  liveDownload,
  runExplanation,
  runStateLabel,
  runStateTone,
  shortDigest,
  waitingSeconds,
} from '../logic/runs.js';
import type { RunDetailJson, RunViewJson } from '../runs-types.js';

/** The analysis's runs, newest first: state, reviews and comments, waiting time, downloads once released. */
export function RunsList({ runs, now }: { runs: readonly RunViewJson[]; now: number }) {
  if (runs.length === 0) {
    return (
      <p className="muted" data-testid="runs-empty">
        No runs yet. <strong>Submit to enclave</strong> sends your code for review; once approved it runs with the real data.
      </p>
    );
  }
  return (
    <ol className="runs" aria-label="Runs">
      {runs.map((run) => (
        <RunItem key={run.id} run={run} now={now} />
      ))}
    </ol>
  );
}

function RunItem({ run, now }: { run: RunViewJson; now: number }) {
  const waited = waitingSeconds(run, now);
  const download = liveDownload(run, now);
  return (
    <li className="run" data-testid="run" data-run-id={run.id} data-state={run.state}>
      <div className="run-head">
        <span className={`state-pill state-${runStateTone(run.state)}`} data-testid="run-state">
          {runStateLabel(run.state)}
        </span>
        <span className="run-description">{run.description}</span>
      </div>
      <p className="run-meta muted">
        <time dateTime={run.createdAt}>{new Date(run.createdAt).toLocaleString()}</time> · by {run.submittedBy}
        {waited !== undefined ? <span data-testid="run-waiting"> · waiting {formatDuration(waited)}</span> : null}
      </p>
      <p className="run-explain">{runExplanation(run)}</p>
      {run.decisions.length > 0 ? (
        <ul className="decisions" aria-label="Reviews" data-testid="run-decisions">
          {run.decisions.map((decision, index) => (
            <li key={index} className={`run-decision run-decision-${decision.verdict}`}>
              <span>{decisionLine(decision)}</span>
              {decision.comment ? <q className="decision-comment" data-testid="decision-comment">{decision.comment}</q> : null}
            </li>
          ))}
        </ul>
      ) : null}
      {run.state === 'released' ? (
        download ? (
          <ReleasedFiles run={run} url={download.url} expiresAt={download.expiresAt} now={now} />
        ) : (
          <p className="muted" data-testid="run-link-expired">
            The download link has expired.
          </p>
        )
      ) : null}
    </li>
  );
}

/** A released run's outputs: the whole archive and each file, with its sha256 (what the reviewer saw). */
function ReleasedFiles({ run, url, expiresAt, now }: { run: RunViewJson; url: string; expiresAt: string; now: number }) {
  const [detail, setDetail] = useState<RunDetailJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let live = true;
    void runsApi.detail(run.id).then((result) => {
      if (!live) return;
      if (result.ok) setDetail(result.data);
      else setError(result.message);
    });
    return () => {
      live = false;
    };
  }, [run.id]);
  return (
    <div className="released" data-testid="run-download">
      <p>
        <a className="button button-small button-primary" href={url} download data-testid="download-all">
          Download outputs
        </a>{' '}
        <span className="muted">{expiryText(expiresAt, now)}</span>
      </p>
      {error ? <p className="form-error">{error}</p> : null}
      {detail?.outputs ? (
        <ul className="file-links">
          {detail.outputs.files.map((file) => (
            <li key={file.path}>
              <a href={fileDownloadUrl(url, file.path)} download data-testid="download-file" data-path={file.path}>
                {file.path}
              </a>{' '}
              <span className="muted">
                {formatBytes(file.size)} · sha256 <code title={file.sha256}>{shortDigest(file.sha256)}</code>
              </span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
