import { useEffect, useState, useSyncExternalStore } from 'react';
import { runsPath } from '../logic/routes.js';
import { getMe, workspaceApi } from '../api.js';
import { IdleBanner } from '../components/IdleBanner.js';
import { Layout, MessagePanel } from '../components/Layout.js';
import { ProgressPanel } from '../components/ProgressPanel.js';
import { RunsPanel } from '../components/RunsPanel.js';
import { SubmitDialog } from '../components/SubmitDialog.js';
import { TopBar } from '../components/TopBar.js';
import { inSentence, toolLabel } from '../logic/format.js';
import { failedStep } from '../logic/steps.js';
import { WorkspaceSession, type SessionSnapshot } from '../logic/workspace-session.js';
import { goToSignIn } from '../navigation.js';

const browserTimers = {
  set: (callback: () => void, ms: number) => window.setTimeout(callback, ms),
  clear: (handle: unknown) => window.clearTimeout(handle as number),
};

/** /a/<analysisId>: start the workspace if needed, show progress, then the tool in an iframe. */
export function WorkspacePage({ analysisId }: { analysisId: string }) {
  const [session, setSession] = useState<WorkspaceSession | undefined>();
  const title = useAnalysisTitle(analysisId);

  useEffect(() => {
    const created = new WorkspaceSession({
      analysisId,
      api: workspaceApi,
      now: Date.now,
      isVisible: () => document.visibilityState === 'visible',
      timers: browserTimers,
      onUnauthenticated: goToSignIn,
    });
    setSession(created);
    created.start();
    return () => created.dispose();
  }, [analysisId]);

  useEffect(() => {
    document.title = `${title} · carrel`;
  }, [title]);

  if (!session) return <Loading />;
  return <WorkspaceScreen session={session} title={title} />;
}

function Loading({ notice }: { notice?: string }) {
  return (
    <Layout>
      <p role="status" className="muted">
        Opening your workspace…
      </p>
      {notice ? <p className="notice">{notice}</p> : null}
    </Layout>
  );
}

function WorkspaceScreen({ session, title }: { session: WorkspaceSession; title: string }) {
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);
  usePresence(session);
  const { screen, view } = snapshot;

  switch (screen.kind) {
    case 'loading':
      return <Loading notice={snapshot.notice} />;
    case 'not-allowed':
      return (
        <Layout>
          <MessagePanel title="You are not allowed to use this analysis" testId="not-allowed" tone="error">
            <p>{screen.message}</p>
            <p>
              <a href="/">See the analyses you can use</a>
            </p>
          </MessagePanel>
        </Layout>
      );
    case 'no-such-analysis':
      return (
        <Layout>
          <MessagePanel title="No such analysis" testId="no-such-analysis">
            <p>{screen.message}</p>
            <p>
              <a href="/">See the analyses you can use</a>
            </p>
          </MessagePanel>
        </Layout>
      );
    case 'unavailable':
      return (
        <Layout>
          <MessagePanel title="Your workspace is not available" testId="unavailable" tone="error">
            <p>{screen.message}</p>
            <button type="button" className="button button-primary" onClick={() => session.retry()} data-testid="retry">
              Try again
            </button>
          </MessagePanel>
        </Layout>
      );
    case 'workspace':
      return view ? <WorkspaceBody session={session} snapshot={snapshot} title={title} /> : <Loading />;
  }
}

function WorkspaceBody({ session, snapshot, title }: { session: WorkspaceSession; snapshot: SessionSnapshot; title: string }) {
  const view = snapshot.view!;
  const busy = snapshot.pending !== undefined;
  const [submitting, setSubmitting] = useState(false);
  const [runsOpen, setRunsOpen] = useState(false);
  const [submitted, setSubmitted] = useState(0);
  let body;
  switch (view.state) {
    case 'starting':
    case 'provisioning':
      body = <ProgressPanel view={view} connected={false} now={snapshot.now} waitStartedAt={snapshot.waitStartedAt} />;
      break;
    case 'ready':
      body = (
        <>
          {view.url ? (
            <iframe
              key={view.url}
              className="tool-frame"
              src={view.url}
              title={`${toolLabel(view.tool)} workspace`}
              allow="clipboard-read; clipboard-write; fullscreen"
              onLoad={() => session.frameLoaded(view.url!)}
              data-testid="workspace-frame"
            />
          ) : null}
          {snapshot.connected ? null : (
            <ProgressPanel view={view} connected={false} now={snapshot.now} waitStartedAt={snapshot.waitStartedAt} overlay />
          )}
        </>
      );
      break;
    case 'failed':
      body = (
        <div className="center-page">
          <MessagePanel title="Your workspace could not start" testId="workspace-failed" tone="error">
            {failedStep(view) ? (
              <p>
                Failed at: <strong>{failedStep(view)}</strong>
              </p>
            ) : null}
            <p data-testid="failure-reason">{view.reason ?? 'Something went wrong while starting the workspace.'}</p>
            <p className="muted">Nothing is left running. Your files are kept.</p>
            <button type="button" className="button button-primary" onClick={() => session.resume()} disabled={busy} data-testid="try-again">
              Try again
            </button>
          </MessagePanel>
        </div>
      );
      break;
    default: {
      const settling = view.state === 'stopping' || view.state === 'terminating';
      const waiting = snapshot.resumeRequested || snapshot.pending === 'open';
      body = (
        <div className="center-page">
          <MessagePanel title={`Your workspace was stopped (${inSentence(view.reason ?? 'no recent activity')})`} testId="workspace-stopped">
            <p className="muted">Your files are kept. Resuming brings the workspace back where you left it.</p>
            {waiting ? (
              <p role="status">{settling ? 'Resuming as soon as it has finished stopping…' : 'Resuming…'}</p>
            ) : null}
            <button type="button" className="button button-primary" onClick={() => session.resume()} disabled={waiting} data-testid="resume">
              Resume
            </button>
          </MessagePanel>
        </div>
      );
    }
  }

  return (
    <div className="workspace">
      <TopBar
        title={title}
        view={view}
        connected={snapshot.connected}
        stopping={snapshot.pending === 'stop'}
        onStop={() => void session.stop()}
        actions={
          <>
            <button type="button" className="button button-small button-primary" onClick={() => setSubmitting(true)} data-testid="submit-to-enclave">
              Submit to enclave
            </button>
            <button
              type="button"
              className="button button-small"
              aria-expanded={runsOpen}
              aria-controls="runs-drawer"
              onClick={() => setRunsOpen((open) => !open)}
              data-testid="toggle-runs"
            >
              Runs
            </button>
          </>
        }
      />
      {submitting ? (
        <SubmitDialog
          analysisId={view.analysisId}
          onClose={() => setSubmitting(false)}
          onSubmitted={() => {
            setSubmitted((n) => n + 1);
            setRunsOpen(true);
          }}
        />
      ) : null}
      {snapshot.notice ? (
        <p className="notice notice-floating" role="status">
          {snapshot.notice}
        </p>
      ) : null}
      {view.state === 'ready' && snapshot.countdown.show ? <IdleBanner countdown={snapshot.countdown} onKeepWorking={() => session.keepWorking()} /> : null}
      <div className="workspace-main">
        <div className="workspace-body">{body}</div>
        {runsOpen ? (
          <aside id="runs-drawer" className="runs-drawer" aria-label="Enclave runs">
            <RunsPanel analysisId={view.analysisId} refresh={submitted} />
            <p>
              <a href={runsPath(view.analysisId)} target="_blank" rel="noopener">
                Open the runs page
              </a>
            </p>
          </aside>
        ) : null}
      </div>
    </div>
  );
}

/**
 * Presence on the desk page (pointer, keyboard, wheel), focus moving into the tool's iframe, and the
 * page becoming visible: the signals that make a heartbeat worth sending.
 */
function usePresence(session: WorkspaceSession) {
  useEffect(() => {
    const present = () => session.presence();
    const onBlur = () => {
      // The window loses focus to the iframe when the researcher clicks into the tool.
      setTimeout(() => {
        if (document.activeElement instanceof HTMLIFrameElement) session.presence();
      }, 0);
    };
    const onVisibility = () => session.visibilityChanged(document.visibilityState === 'visible');
    const options = { passive: true, capture: true } as const;
    const events = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'] as const;
    for (const name of events) window.addEventListener(name, present, options);
    window.addEventListener('blur', onBlur);
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      for (const name of events) window.removeEventListener(name, present, options);
      window.removeEventListener('blur', onBlur);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [session]);
}

/** The analysis's title from /api/me (falls back to its id). */
function useAnalysisTitle(analysisId: string): string {
  const [title, setTitle] = useState(analysisId);
  useEffect(() => {
    let live = true;
    void getMe().then((result) => {
      if (!live) return;
      if (result.ok) {
        const found = result.data.analyses.find((analysis) => analysis.analysisId === analysisId);
        if (found?.title) setTitle(found.title);
      } else if (result.status === 401) goToSignIn();
    });
    return () => {
      live = false;
    };
  }, [analysisId]);
  return title;
}
