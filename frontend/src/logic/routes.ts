/** The front desk's pages; a tiny path switch instead of a router library. */
export type Route =
  | { readonly page: 'sign-in' }
  | { readonly page: 'sign-out' }
  | { readonly page: 'home' }
  | { readonly page: 'workspace'; readonly analysisId: string }
  | { readonly page: 'runs'; readonly analysisId: string }
  | { readonly page: 'review' }
  | { readonly page: 'review-run'; readonly id: string }
  | { readonly page: 'outbox' }
  | { readonly page: 'not-found' };

export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (path === '/' || path === '') return { page: 'home' };
  if (path === '/sign-in') return { page: 'sign-in' };
  if (path === '/sign-out') return { page: 'sign-out' };
  if (path === '/review') return { page: 'review' };
  if (path === '/outbox') return { page: 'outbox' };
  const match = /^\/a\/([^/]+)(\/runs)?$/.exec(path);
  if (match) {
    const analysisId = decoded(match[1]);
    if (analysisId) return match[2] ? { page: 'runs', analysisId } : { page: 'workspace', analysisId };
  }
  const run = /^\/review\/runs\/([^/]+)$/.exec(path);
  if (run) {
    const id = decoded(run[1]);
    if (id) return { page: 'review-run', id };
  }
  return { page: 'not-found' };
}

/** A path segment decoded, or undefined when its percent-encoding is malformed (not a page). */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function workspacePath(analysisId: string): string {
  return `/a/${encodeURIComponent(analysisId)}`;
}

export function runsPath(analysisId: string): string {
  return `/a/${encodeURIComponent(analysisId)}/runs`;
}
