import { useEffect } from 'react';
import { runsApi } from '../api.js';
import { Layout, MessagePanel } from '../components/Layout.js';
import { usePolled } from '../hooks.js';

/** /outbox (local mode): the mail carrel would have sent you, oldest first. */
export function OutboxPage() {
  useEffect(() => {
    document.title = 'Your mail · carrel';
  }, []);
  const outbox = usePolled(() => runsApi.outbox(), () => 10_000, []);
  return (
    <Layout>
      {outbox.error && !outbox.data ? (
        <MessagePanel title="No outbox here" tone="error" testId="outbox-error">
          <p>{outbox.error}</p>
        </MessagePanel>
      ) : !outbox.data ? (
        <p role="status" className="muted">
          Loading your mail…
        </p>
      ) : (
        <section aria-labelledby="outbox-title" data-testid="outbox">
          <h1 id="outbox-title">Your mail</h1>
          <p className="muted">Local mode writes the mail it would send to this outbox.</p>
          {outbox.data.messages.length === 0 ? (
            <p className="muted">No mail yet.</p>
          ) : (
            <ol className="mails">
              {outbox.data.messages.map((mail, index) => (
                <li key={index} className="mail" data-testid="mail" data-notice={mail.notice}>
                  <p className="muted">
                    <time dateTime={mail.at}>{new Date(mail.at).toLocaleString()}</time> · to {mail.to} · {mail.analysisId}
                  </p>
                  <p className="mail-body">{mail.message}</p>
                  {mail.link ? (
                    <p>
                      <a href={mail.link}>{mail.link}</a>
                    </p>
                  ) : null}
                </li>
              ))}
            </ol>
          )}
        </section>
      )}
    </Layout>
  );
}
