/**
 * Settings of the enclave runs (docs/contracts.md, "Enclave runs"), read once and validated with zod; a bad
 * one is a ConfigError naming it. The local runtime passes its CARREL_-prefixed values under the same names.
 */
import * as z from 'zod';
import { DEFAULT_EXCLUDES } from '../adapters/archive.js';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../core/runs/policy.js';
import type { RunApiLimits } from '../core/runs/api.js';
import { ConfigError } from './config.js';

export interface RunsConfig {
  readonly policy: RunPolicy;
  readonly limits: RunApiLimits;
  /** Patterns left out of a submitted home. */
  readonly exclude: readonly string[];
}

const MIB = 1024 * 1024;
const int = (min: number, max: number, fallback: number) =>
  z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }).default(fallback);

const schema = z.object({
  REQUIRED_APPROVALS: z.enum(['1', '2'], { error: 'must be 1 or 2' }).default('1'),
  SMALL_COUNT_THRESHOLD: int(2, 1000, 10),
  SUBMISSION_EXCLUDES: z
    .string()
    .default(DEFAULT_EXCLUDES.join(','))
    .transform((v) => v.split(',').map((p) => p.trim()).filter(Boolean))
    .refine((list) => list.every((p) => !p.split('/').includes('..')), { error: "must not hold '..'" }),
  RELEASE_LINK_TTL_SECONDS: int(1, 30 * 24 * 3600, 24 * 3600),
  FILE_VIEW_MAX_BYTES: int(1024, 5 * MIB, MIB),
  DOWNLOAD_MAX_BYTES: int(1024, 5 * MIB, 5 * MIB),
  REVIEWER_ROLE: z.string().min(1, { error: 'must not be empty' }).default('reviewer'),
});

export function loadRunsConfig(env: Readonly<Record<string, string | undefined>> = process.env): RunsConfig {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k]]).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
  const c = parsed.data;
  return {
    policy: { ...DEFAULT_RUN_POLICY, requiredApprovals: c.REQUIRED_APPROVALS === '2' ? 2 : 1, releaseLinkTtlMs: c.RELEASE_LINK_TTL_SECONDS * 1000, reviewerRole: c.REVIEWER_ROLE },
    limits: { fileViewMaxBytes: c.FILE_VIEW_MAX_BYTES, downloadMaxBytes: c.DOWNLOAD_MAX_BYTES, smallCountThreshold: c.SMALL_COUNT_THRESHOLD },
    exclude: c.SUBMISSION_EXCLUDES,
  };
}
