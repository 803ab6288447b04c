import { useEffect, useState } from 'react';
import { runsApi } from '../api.js';
import { csvPreview } from '../logic/csv.js';
import { diffLines, diffStat } from '../logic/diff.js';
import { formatBytes } from '../logic/runs.js';
import type { FileSource, FileViewJson, FindingJson } from '../runs-types.js';

/**
 * One submitted or output file as the reviewer reads it: text shown, binary noted, images inline, CSV as a
 * table with small counts flagged, and (code) the diff against the last approved submission.
 */
export function FileView({
  id,
  path,
  from,
  withDiff,
  threshold,
  findings,
}: {
  id: string;
  path: string;
  from: FileSource;
  withDiff: boolean;
  threshold: number;
  findings: readonly FindingJson[];
}) {
  const [file, setFile] = useState<FileViewJson | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [mode, setMode] = useState<'content' | 'diff'>(withDiff ? 'diff' : 'content');

  useEffect(() => {
    let live = true;
    setFile(undefined);
    setError(undefined);
    void runsApi.file(id, path, from, withDiff).then((result) => {
      if (!live) return;
      if (result.ok) setFile(result.data);
      else setError(result.message);
    });
    return () => {
      live = false;
    };
  }, [id, path, from, withDiff]);

  useEffect(() => setMode(withDiff ? 'diff' : 'content'), [path, withDiff]);

  return (
    <section className="file-view" aria-label={`File ${path}`} aria-busy={!file && !error} data-testid="file-view" data-path={path} data-from={from}>
      <header className="file-view-head">
        <h3 className="file-path">{path}</h3>
        {file ? (
          <span className="muted small">
            {formatBytes(file.size)} · {file.mediaType} · sha256 <code data-testid="file-sha256">{file.sha256}</code>
          </span>
        ) : null}
      </header>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : !file ? (
        <p role="status" className="muted">
          Loading {path}…
        </p>
      ) : (
        <>
          {file.diff ? (
            <div className="segmented" role="group" aria-label="Show">
              <button type="button" className="button button-small" aria-pressed={mode === 'diff'} onClick={() => setMode('diff')} data-testid="show-diff">
                Changes
              </button>
              <button type="button" className="button button-small" aria-pressed={mode === 'content'} onClick={() => setMode('content')} data-testid="show-content">
                Whole file
              </button>
            </div>
          ) : null}
          {mode === 'diff' && file.diff ? <UnifiedDiff unified={file.diff.unified} /> : <FileContent file={file} threshold={threshold} findings={findings} />}
          {file.truncated ? <p className="notice">Only the first {formatBytes(file.text?.length ?? 0)} are shown: the file is larger than the preview limit.</p> : null}
        </>
      )}
    </section>
  );
}

function FileContent({ file, threshold, findings }: { file: FileViewJson; threshold: number; findings: readonly FindingJson[] }) {
  if (file.kind === 'binary') {
    if (file.mediaType.startsWith('image/') && file.base64) {
      return <img className="preview-image" src={`data:${file.mediaType};base64,${file.base64}`} alt={`Output image ${file.path}`} data-testid="preview-image" />;
    }
    return (
      <p className="muted" data-testid="binary-note">
        Binary file ({file.mediaType}, {formatBytes(file.size)}); not shown.
      </p>
    );
  }
  const text = file.text ?? '';
  if (file.from === 'outputs' && (file.mediaType === 'text/csv' || file.path.toLowerCase().endsWith('.csv'))) {
    return <CsvTable text={text} threshold={threshold} findings={findings} />;
  }
  if (text === '') return <p className="muted">Empty file.</p>;
  return (
    <pre className="file-text" data-testid="file-text" tabIndex={0}>
      {text}
    </pre>
  );
}

function CsvTable({ text, threshold, findings }: { text: string; threshold: number; findings: readonly FindingJson[] }) {
  const preview = csvPreview(text, threshold, findings);
  return (
    <div className="csv" data-testid="csv-preview">
      {preview.flaggedCount > 0 ? (
        <p className="flag-summary" role="note" data-testid="flag-summary">
          <span aria-hidden="true">⚠ </span>
          {preview.flaggedCount} cell{preview.flaggedCount === 1 ? '' : 's'} hold{preview.flaggedCount === 1 ? 's' : ''} a count below {threshold}: a disclosure risk.
        </p>
      ) : null}
      <div className="table-scroll" tabIndex={0}>
        <table className="table csv-table">
          {preview.header ? (
            <thead>
              <tr>
                <th scope="col" className="row-number">
                  <span className="visually-hidden">Row</span>
                </th>
                {preview.header.map((cell, index) => (
                  <th key={index} scope="col">
                    {cell}
                  </th>
                ))}
              </tr>
            </thead>
          ) : null}
          <tbody>
            {preview.rows.map((row) => (
              <tr key={row.number}>
                <th scope="row" className="row-number">
                  {row.number}
                </th>
                {row.cells.map((cell, index) =>
                  cell.flagged ? (
                    <td key={index} className="cell-flagged" title={`Disclosure risk: ${cell.why}`} data-testid="flagged-cell">
                      <span aria-hidden="true">⚠ </span>
                      {cell.value}
                      <span className="visually-hidden"> (disclosure risk: {cell.why})</span>
                    </td>
                  ) : (
                    <td key={index}>{cell.value}</td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {preview.omittedRows > 0 ? <p className="muted">{preview.omittedRows} more rows are not shown.</p> : null}
    </div>
  );
}

function UnifiedDiff({ unified }: { unified: string }) {
  const lines = diffLines(unified);
  const stat = diffStat(lines);
  if (lines.length === 0) return <p className="muted">No changes.</p>;
  return (
    <div data-testid="file-diff">
      <p className="muted small">
        <span className="diff-stat-added">+{stat.added}</span> <span className="diff-stat-removed">−{stat.removed}</span> lines against the last approved
        submission
      </p>
      <pre className="diff" tabIndex={0}>
        {lines.map((line, index) => (
          <span key={index} className={`diff-line diff-${line.kind}`}>
            {line.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}
