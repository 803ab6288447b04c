/**
 * The page's view of the server clock. Idle deadlines (warnAt, stopAt) are server times; a laptop whose
 * clock is off by a minute must still show the countdown at the right moment.
 */

/**
 * Offset to add to the local clock to get the server's, from one request: the server stamped its reply
 * somewhere between send and receive, so assume the middle.
 */
export function clockSkewMs(serverTime: string, sentAtMs: number, receivedAtMs: number): number {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return 0;
  return server - Math.round((sentAtMs + receivedAtMs) / 2);
}

/** The server's time now, given the local time and the measured skew. */
export function serverNowMs(localNowMs: number, skewMs: number): number {
  return localNowMs + skewMs;
}

/** A server timestamp (ISO) as a local time in ms. */
export function toLocalMs(serverIso: string, skewMs: number): number {
  return Date.parse(serverIso) - skewMs;
}
