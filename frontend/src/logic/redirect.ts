/**
 * Where to go after signing in. `next` comes from the query string, so anyone can put anything there:
 * only a path on this origin is followed (never `//evil.com`, `https://...`, `/\evil.com` or `javascript:`).
 */
export function safeNextPath(next: string | null | undefined, fallback = '/'): string {
  if (!next || next.length > 2_000) return fallback;
  if (!next.startsWith('/') || next.startsWith('//')) return fallback;
  // Browsers treat "\" like "/" and drop tabs/newlines in URLs: "/\evil.com" and "/\t/evil.com" leave the origin.
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return fallback;
  const base = 'http://carrel.invalid';
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base) return fallback;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Never bounce back to the sign-in page or the sign-in routes themselves.
  if (url.pathname === '/sign-in' || url.pathname === '/sign-out' || url.pathname.startsWith('/auth/')) return fallback;
  return path;
}

/**
 * The desk's sign-in (OpenID Connect at the organisation's identity provider, or the local one), coming back
 * to `currentPath` afterwards. The server checks `returnTo` again: this only avoids sending what it refuses.
 */
export function signInUrl(currentPath: string): string {
  const next = safeNextPath(currentPath, '');
  return next && next !== '/' ? `/auth/login?returnTo=${encodeURIComponent(next)}` : '/auth/login';
}
