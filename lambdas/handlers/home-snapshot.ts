/**
 * The home-snapshot function (invoked by the submit function, never over HTTP): validates the request with
 * zod, archives that one home from the read-only homes mount into the run objects and answers the
 * manifest's digest. Expected refusals (no home, the keys exist, a bad request) are answers, so the caller
 * can tell them from failures; anything else is thrown with its name (TransientError is retried by the user).
 */
import * as z from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { HomeSnapshots } from '../core/runs/api.js';
import type { Log } from '../core/ports.js';
import { snapshotRequest, type SnapshotResponse } from '../adapters/aws/lambda-home-snapshots.js';
import { ConfigError } from './config.js';

export const homeSnapshotEnv = z.object({
  HOMES_MOUNT: z.string({ error: 'HOMES_MOUNT must be set (where the homes are mounted)' }).regex(/^\/mnt\/[A-Za-z0-9._-]+$/, { error: 'HOMES_MOUNT must be a /mnt/<name> path (Lambda mounts EFS under /mnt)' }),
  RUN_OBJECTS_BUCKET: z.string({ error: 'RUN_OBJECTS_BUCKET must be set' }).min(3, { error: 'RUN_OBJECTS_BUCKET must be a bucket name' }),
  RUN_OBJECTS_KEY_ID: z.string({ error: 'RUN_OBJECTS_KEY_ID must be set' }).min(1, { error: 'RUN_OBJECTS_KEY_ID must be set' }),
});
export type HomeSnapshotEnv = z.output<typeof homeSnapshotEnv>;

export function loadHomeSnapshotEnv(env: Readonly<Record<string, string | undefined>>): HomeSnapshotEnv {
  const parsed = homeSnapshotEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message));
  return parsed.data;
}

export function makeHomeSnapshotHandler(snapshots: HomeSnapshots, log: Log): (event: unknown) => Promise<SnapshotResponse> {
  return async (event) => {
    const parsed = snapshotRequest.safeParse(event);
    if (!parsed.success) return { ok: false, reason: 'invalid', message: parsed.error.issues.map((i) => i.message).join('; ') };
    const { analysisId, userId, archiveKey, manifestKey } = parsed.data;
    if (!archiveKey.startsWith(`runs/${analysisId}/`) || manifestKey !== archiveKey.replace(/home\.tar\.gz$/, 'manifest.json')) {
      return { ok: false, reason: 'invalid', message: 'archiveKey and manifestKey must be the same run of the analysis' };
    }
    try {
      const manifest = await snapshots.snapshot({ analysisId, userId }, { archiveKey, manifestKey });
      log.info('home archived', { analysisId, archiveKey, files: manifest.files.length, totalBytes: manifest.totalBytes });
      return { ok: true, digest: manifest.digest, files: manifest.files.length, totalBytes: manifest.totalBytes };
    } catch (error) {
      if (error instanceof NotFoundError) return { ok: false, reason: 'no-home', message: error.message };
      if (error instanceof ConflictError) return { ok: false, reason: 'exists', message: error.message };
      if (error instanceof ValidationError) return { ok: false, reason: 'invalid', message: error.message };
      log.warn('home snapshot failed', { analysisId, archiveKey, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      throw error;
    }
  };
}
