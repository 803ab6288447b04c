import { useEffect, useState } from 'react';
import { getMe } from '../api.js';
import { Layout, MessagePanel } from '../components/Layout.js';
import { toolLabel } from '../logic/format.js';
import { workspacePath } from '../logic/routes.js';
import { goToSignIn } from '../navigation.js';
import type { MeResponse } from '../types.js';
import { SignOutLink } from './SignOutPage.js';

/** The signed-in researcher's analyses. */
export function HomePage() {
  const [me, setMe] = useState<MeResponse | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    document.title = 'Your analyses · carrel';
    let live = true;
    void getMe().then((result) => {
      if (!live) return;
      if (result.ok) setMe(result.data);
      else if (result.status === 401) goToSignIn();
      else setError(result.message);
    });
    return () => {
      live = false;
    };
  }, []);

  const actions = me ? (
    <>
      {me.user.roles.includes('reviewer') ? (
        <a href="/review" data-testid="review-link">
          Review console
        </a>
      ) : null}
      <span className="muted">Signed in as {me.user.name || me.user.userId}</span>
      <SignOutLink />
    </>
  ) : undefined;

  return (
    <Layout actions={actions}>
      {error ? (
        <MessagePanel title="Could not load your analyses" tone="error">
          <p>{error}</p>
        </MessagePanel>
      ) : !me ? (
        <p role="status" className="muted">
          Loading your analyses…
        </p>
      ) : (
        <section aria-labelledby="analyses-title">
          <h1 id="analyses-title">Your analyses</h1>
          {me.analyses.length === 0 ? (
            <p className="muted">You are not a researcher on any analysis yet.</p>
          ) : (
            <ul className="analyses">
              {me.analyses.map((analysis) => (
                <li key={analysis.analysisId} className="analysis">
                  <a href={workspacePath(analysis.analysisId)} className="analysis-link">
                    <span className="analysis-title">{analysis.title || analysis.analysisId}</span>
                    <span className="analysis-meta">
                      {analysis.analysisId} · {toolLabel(analysis.tool)}
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </Layout>
  );
}
