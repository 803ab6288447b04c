/**
 * The review console's page of one run, `<desk origin>/review/<analysisId>/<runId>` (frontend/src/logic/routes.ts):
 * the review-needed mail links there. The path holds no dot, so the static site serves the console, not a file.
 */
import { ValidationError } from '../errors.js';
import type { RunKey } from './run.js';

/** An origin as browsers see it: scheme, host and optional port, no path, no trailing slash. */
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/;

/** The review page of each run on the desk at `deskOrigin`; a desk origin that is not an origin fails here, once, at wiring. */
export function reviewPages(deskOrigin: string): (key: RunKey) => string {
  if (!ORIGIN.test(deskOrigin)) throw new ValidationError(`The desk origin must be an origin like https://desk.example.org (got ${JSON.stringify(deskOrigin)})`);
  return (key) => `${deskOrigin}/review/${encodeURIComponent(key.analysisId)}/${encodeURIComponent(key.runId)}`;
}
