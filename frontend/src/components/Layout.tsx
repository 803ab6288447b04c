import type { ReactNode } from 'react';

/** The frame of every page but the workspace itself: a header and a centred column. */
export function Layout({ children, actions, wide = false }: { children: ReactNode; actions?: ReactNode; wide?: boolean }) {
  return (
    <div className="layout">
      <header className="site-header">
        <a className="brand" href="/">
          carrel
        </a>
        {actions ? <nav className="site-actions" aria-label="Account">{actions}</nav> : null}
      </header>
      <main className={wide ? 'content content-wide' : 'content'} id="main">
        {children}
      </main>
    </div>
  );
}

/** A page that explains one thing: not allowed, no such analysis, not found. */
export function MessagePanel({
  title,
  children,
  testId,
  tone = 'neutral',
}: {
  title: string;
  children?: ReactNode;
  testId?: string;
  tone?: 'neutral' | 'error';
}) {
  return (
    <section className={`panel panel-${tone}`} data-testid={testId} aria-labelledby="panel-title">
      <h1 id="panel-title">{title}</h1>
      {children}
    </section>
  );
}
