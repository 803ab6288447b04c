import { useEffect } from 'react';
import { Layout } from '../components/Layout.js';
import { RunsPanel } from '../components/RunsPanel.js';
import { workspacePath } from '../logic/routes.js';

/** /a/<analysisId>/runs: the analysis's enclave runs on a page of their own. */
export function RunsPage({ analysisId }: { analysisId: string }) {
  useEffect(() => {
    document.title = `Runs of ${analysisId} · carrel`;
  }, [analysisId]);
  return (
    <Layout actions={<a href={workspacePath(analysisId)}>Back to the workspace</a>}>
      <RunsPanel analysisId={analysisId} />
    </Layout>
  );
}
