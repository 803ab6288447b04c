import { resolve } from 'node:path';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  CARREL_DATA_DIR: z.string().min(1).default('.carrel'),
  CARREL_DESK_DOMAIN: z.string().regex(/^[a-z0-9.-]+$/, 'must be a lowercase domain').default('app.localhost'),
  CARREL_IDLE_TIMEOUT_SECONDS: seconds(1800),
  CARREL_IDLE_WARNING_SECONDS: seconds(60),
  CARREL_HEARTBEAT_SECONDS: seconds(60),
  CARREL_HOUSEKEEPING_SECONDS: seconds(15),
  CARREL_GATE_REPORT_SECONDS: seconds(30),
  CARREL_STOPPED_RETENTION_HOURS: seconds(168),
  CARREL_TOOL_START_TIMEOUT_SECONDS: seconds(60),
  CARREL_JUPYTER_COMMAND: z.string().min(1).default('jupyter-notebook'),
  /** Chromium accepts Secure cookies on http://*.localhost; other browsers may need false. */
  CARREL_COOKIE_SECURE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Enclave runs (lambdas/handlers/runs-config.ts validates these under their Lambda names). */
  CARREL_REQUIRED_APPROVALS: z.enum(['1', '2']).default('1'),
  CARREL_SMALL_COUNT_THRESHOLD: z.coerce.number().int().min(2).max(1000).default(10),
  CARREL_RELEASE_LINK_TTL_SECONDS: seconds(86400),
  CARREL_SUBMISSION_EXCLUDES: z.string().optional(),
  CARREL_RUN_TIMEOUT_SECONDS: seconds(600),
  /** Where the synthesized enclave definition is cached (synthesis takes about 10 s). */
  CARREL_CACHE_DIR: z.string().min(1).default('node_modules/.cache/carrel'),
});

export type LocalConfig = z.infer<typeof schema> & { readonly dataDir: string };

/** Local runtime settings from the environment, validated once; a bad one is named. */
export function loadLocalConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof z.infer<typeof schema>, string>> = {}): LocalConfig {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, overrides[k as keyof typeof overrides] ?? env[k]]).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid setting ${String(issue.path[0])}: ${issue.message}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.CARREL_DATA_DIR) };
}
