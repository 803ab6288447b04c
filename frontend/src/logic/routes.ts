/** The front desk's pages; a tiny path switch instead of a router library. */
export type Route =
  | { readonly page: 'sign-in' }
  | { readonly page: 'sign-out' }
  | { readonly page: 'home' }
  | { readonly page: 'workspace'; readonly analysisId: string }
  | { readonly page: 'not-found' };

export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (path === '/' || path === '') return { page: 'home' };
  if (path === '/sign-in') return { page: 'sign-in' };
  if (path === '/sign-out') return { page: 'sign-out' };
  const match = /^\/a\/([^/]+)$/.exec(path);
  if (match) {
    try {
      const analysisId = decodeURIComponent(match[1]);
      if (analysisId) return { page: 'workspace', analysisId };
    } catch {
      // malformed percent-encoding: not a page
    }
  }
  return { page: 'not-found' };
}

export function workspacePath(analysisId: string): string {
  return `/a/${encodeURIComponent(analysisId)}`;
}
