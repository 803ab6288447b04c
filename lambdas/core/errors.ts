/**
 * Domain errors. Entry points map them to HTTP in one place (see handlers/http.ts);
 * code matches them with `instanceof`, never by message.
 */
export class CarrelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller could not be identified (no, forged or expired session). */
export class UnauthenticatedError extends CarrelError {}

/** The caller is known but may not do this (e.g. not a member of the analysis). */
export class NotAllowedError extends CarrelError {}

/** The thing asked for does not exist (or is not visible to the caller). */
export class NotFoundError extends CarrelError {}

/** The input was malformed; `issues` says which field and why. */
export class ValidationError extends CarrelError {
  constructor(message: string, readonly issues: readonly string[] = []) {
    super(message);
  }
}

/** The request conflicts with the current state (e.g. stop a workspace that is not running). */
export class ConflictError extends CarrelError {}

/** A conditional write lost a race; the caller should re-read and decide again. */
export class ConcurrentUpdateError extends CarrelError {}

/** A dependency failed in a way that may pass if retried (throttling, 5xx, timeouts, capacity). */
export class TransientError extends CarrelError {}
