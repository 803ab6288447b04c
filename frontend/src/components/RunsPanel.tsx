import { useEffect, useState } from 'react';
import { runsApi } from '../api.js';
import { useNow, usePolled } from '../hooks.js';
import { isRunFinished, runsPollDelay } from '../logic/runs.js';
import { RunsList } from './RunsList.js';

/** The analysis's runs, polled while any is in progress; `refresh` changes when the page submitted one. */
export function RunsPanel({ analysisId, refresh = 0 }: { analysisId: string; refresh?: number }) {
  const now = useNow();
  const runs = usePolled(() => runsApi.list(analysisId), (data, failures) => (data ? runsPollDelay(data.runs, failures) : 5_000), [analysisId, refresh]);
  return (
    <section className="runs-panel" aria-labelledby="runs-title" aria-busy={runs.loading} data-testid="runs-panel">
      <div className="runs-panel-head">
        <h2 id="runs-title">Enclave runs</h2>
        {/* Mail is sent when a run needs changes, fails or is released: read the outbox again then. */}
        <OutboxLink key={runs.data?.runs.filter((run) => isRunFinished(run.state)).length ?? 0} />
      </div>
      {runs.error ? (
        <p className="form-error" role="alert" data-testid="runs-error">
          {runs.error}
        </p>
      ) : null}
      {runs.data ? (
        <RunsList runs={runs.data.runs} now={now} />
      ) : runs.loading ? (
        <p role="status" className="muted">
          Loading runs…
        </p>
      ) : null}
    </section>
  );
}

/** Local mode keeps the mail it would send in an outbox; the link shows only where there is one. */
export function OutboxLink() {
  const [count, setCount] = useState<number | undefined>();
  useEffect(() => {
    let live = true;
    void runsApi.outbox().then((result) => {
      if (live && result.ok) setCount(result.data.messages.length);
    });
    return () => {
      live = false;
    };
  }, []);
  if (count === undefined) return null;
  return (
    <a href="/outbox" target="_blank" rel="noopener" className="outbox-link" data-testid="outbox-link">
      Your mail ({count})
    </a>
  );
}
