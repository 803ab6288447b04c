/**
 * The gate's own pages: small, self-contained HTML (no scripts, no external resources), shown inside the
 * front desk's iframe or on their own. Links open the desk in the top window.
 */

export type PageKind = 'signed-out' | 'not-allowed' | 'upstream-down' | 'not-found';

export interface Page {
  readonly status: number;
  readonly title: string;
  readonly html: string;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface PageText {
  readonly status: number;
  readonly eyebrow: string;
  readonly title: string;
  readonly body: string;
  readonly action: string;
}

const TEXT: Record<PageKind, PageText> = {
  'signed-out': {
    status: 403,
    eyebrow: 'Not allowed',
    title: 'Session expired or not signed in',
    body: 'Your session for this workspace has expired or you are not signed in — open it again from the front desk.',
    action: 'Open the front desk',
  },
  'not-allowed': {
    status: 403,
    eyebrow: 'Not allowed',
    title: 'This workspace is not open to you',
    body:
      'The pass your browser presented belongs to another workspace or could not be verified, so this workspace stays closed. ' +
      'If it is yours, open it from the front desk.',
    action: 'Go to the front desk',
  },
  'upstream-down': {
    status: 502,
    eyebrow: 'Workspace unavailable',
    title: 'The tool is not answering',
    body: 'The tool in this workspace is not answering right now. It may still be starting or it may have stopped — wait a moment and reload, or reopen it from the front desk.',
    action: 'Open the front desk',
  },
  'not-found': {
    status: 404,
    eyebrow: 'Not found',
    title: 'Nothing here',
    body: 'This address is reserved by the workspace gate.',
    action: 'Go to the front desk',
  },
};

export function renderPage(kind: PageKind, deskUrl: string): Page {
  const t = TEXT[kind];
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(t.title)} · carrel</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: Canvas; color: CanvasText; }
  main { max-width: 34rem; padding: 2rem; }
  .eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: .8rem; opacity: .7; margin: 0; }
  h1 { font-size: 1.5rem; margin: .3rem 0 1rem; }
  p { line-height: 1.5; }
  a.button { display: inline-block; margin-top: 1rem; padding: .6rem 1.1rem; border-radius: .4rem; background: #2457c5; color: #fff; text-decoration: none; }
  a.button:focus-visible { outline: 3px solid #9bb8f5; outline-offset: 2px; }
</style>
</head>
<body>
<main>
  <p class="eyebrow">${escapeHtml(t.eyebrow)} · ${t.status}</p>
  <h1>${escapeHtml(t.title)}</h1>
  <p>${escapeHtml(t.body)}</p>
  <a class="button" href="${escapeHtml(deskUrl)}" target="_top" rel="noopener">${escapeHtml(t.action)}</a>
</main>
</body>
</html>
`;
  return { status: t.status, title: t.title, html };
}
