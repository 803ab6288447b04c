import { Layout, MessagePanel } from './components/Layout.js';
import { parseRoute } from './logic/routes.js';
import { HomePage } from './pages/HomePage.js';
import { OutboxPage } from './pages/OutboxPage.js';
import { ReviewQueuePage } from './pages/ReviewQueuePage.js';
import { RunReviewPage } from './pages/RunReviewPage.js';
import { RunsPage } from './pages/RunsPage.js';
import { SignInPage } from './pages/SignInPage.js';
import { SignOutPage } from './pages/SignOutPage.js';
import { WorkspacePage } from './pages/WorkspacePage.js';

export function App({ pathname }: { pathname: string }) {
  const route = parseRoute(pathname);
  switch (route.page) {
    case 'sign-in':
      return <SignInPage />;
    case 'sign-out':
      return <SignOutPage />;
    case 'home':
      return <HomePage />;
    case 'workspace':
      return <WorkspacePage key={route.analysisId} analysisId={route.analysisId} />;
    case 'runs':
      return <RunsPage key={route.analysisId} analysisId={route.analysisId} />;
    case 'review':
      return <ReviewQueuePage />;
    case 'review-run':
      return <RunReviewPage key={route.id} id={route.id} />;
    case 'outbox':
      return <OutboxPage />;
    case 'not-found':
      return (
        <Layout>
          <MessagePanel title="Page not found" testId="page-not-found">
            <p>
              There is nothing at this address. <a href="/">Go to your analyses</a>.
            </p>
          </MessagePanel>
        </Layout>
      );
  }
}
