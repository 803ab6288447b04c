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
  // A run is /review/<analysisId>/<runId>: the run's id (`<analysisId>.<runId>`) holds a dot, and a dot in
  // the last segment would make the static site (and CloudFront's rewrite) look for a file.
  const run = /^\/review\/([^/.]+)\/([^/.]+)$/.exec(path);
  if (run) {
    const analysisId = decoded(run[1]);
    const runId = decoded(run[2]);
    if (analysisId && runId) return { page: 'review-run', id: `${analysisId}.${runId}` };
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

/** The review page of a run, from its id `<analysisId>.<runId>` (analysis ids hold no dot). */
export function reviewRunPath(id: string): string {
  const dot = id.indexOf('.');
  return `/review/${encodeURIComponent(id.slice(0, dot))}/${encodeURIComponent(id.slice(dot + 1))}`;
}
