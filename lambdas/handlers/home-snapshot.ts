/**
 * The home-snapshot function: the enclave state machine's ArchiveHome step (never HTTP, never the desk). It runs
 * beside the homes' read-only EFS mount and has no table access, so its payload carries everything it needs: the
 * run's key and the submitter (a core StepInput `archive-home`, parsed with zod; any other step is refused). It
 * archives that one home to the run's keys and returns `{ digest, files, totalBytes }` into the execution.
 * Errors are thrown with their name: TransientError is retried by the state machine, SubmissionRefusedError
 * (no home, nothing to submit, too large) fails the run with its message, told to the researcher.
 */
import * as z from 'zod';
import { ValidationError } from '../core/errors.js';
import type { Log } from '../core/ports.js';
import type { HomeSnapshots } from '../core/runs/deps.js';
import { archiveHome, SubmissionRefusedError, type HomeArchived } from '../core/runs/use-cases.js';
import { ConfigError } from './config.js';
import { stepInputSchema } from './enclave-steps.js';

export const homeSnapshotEnv = z.object({
  HOMES_MOUNT: z
    .string()
    .regex(/^\/mnt\/[A-Za-z0-9._-]+$/, { error: 'HOMES_MOUNT must be a /mnt/<name> path (Lambda mounts EFS under /mnt)' })
    .optional(),
  RUN_OBJECTS_BUCKET: z.string({ error: 'RUN_OBJECTS_BUCKET must be set' }).min(3, { error: 'RUN_OBJECTS_BUCKET must be a bucket name' }),
  RUN_OBJECTS_KEY_ID: z.string({ error: 'RUN_OBJECTS_KEY_ID must be set' }).min(1, { error: 'RUN_OBJECTS_KEY_ID must be set' }),
});
export type HomeSnapshotEnv = z.output<typeof homeSnapshotEnv>;

export function loadHomeSnapshotEnv(env: Readonly<Record<string, string | undefined>>): HomeSnapshotEnv {
  const parsed = homeSnapshotEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message));
  return parsed.data;
}

export function makeHomeSnapshotHandler(snapshots: HomeSnapshots, log: Log): (event: unknown) => Promise<HomeArchived> {
  return async (event) => {
    const parsed = stepInputSchema.safeParse(event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'payload'}: ${issue.message}`);
      throw new ValidationError(`The step payload is not valid: ${issues.join('; ')}`, issues);
    }
    const input = parsed.data;
    if (input.step !== 'archive-home') throw new ValidationError(`This function does not run the ${input.step} step (it runs archive-home)`);
    const key = { analysisId: input.analysisId, runId: input.runId };
    try {
      const archived = await archiveHome({ snapshots }, key, input.submittedBy);
      log.info('home archived', { ...key, files: archived.files, totalBytes: archived.totalBytes });
      return archived;
    } catch (error) {
      // The failure is the run's record (FailRun); the log keeps the name and message, never the home's content.
      const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (error instanceof SubmissionRefusedError) log.info('home not archived', { ...key, reason: what });
      else log.warn('home snapshot failed', { ...key, error: what });
      throw error;
    }
  };
}
