/**
 * What the desk accepts, as zod schemas. Messages are predicates that follow the field's name
 * (`analysisId must be ...`), so every 400 says what was wrong.
 */
import * as z from 'zod';

export const ANALYSIS_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@+|:=-]{0,127}$/;

export const analysisId = z
  .string({ error: 'is required' })
  .regex(ANALYSIS_ID, { error: 'must be 1-63 lowercase letters, digits or hyphens, starting with a letter or digit' });

export const userId = z
  .string({ error: 'is required' })
  .regex(USER_ID, { error: 'must be 1-128 letters, digits or . _ @ + | : = -, starting with a letter or digit' });

/** Path parameters of `/api/workspaces/{analysisId}/...`. */
export const workspacePath = z.object({ analysisId }, { error: 'must name an analysis' });

/** Query of the stop route: an admin may name another researcher's workspace. */
export const stopQuery = z.strictObject(
  { userId: userId.optional() },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `has unexpected parameter(s): ${issue.keys.join(', ')}` : 'is malformed') },
);

const unexpected = (keys: readonly string[]) => `has unexpected field(s): ${keys.join(', ')}`;

/** open, heartbeat, stop (and the GET routes): no body, or `{}`. */
export const emptyBody = z
  .strictObject(
    {},
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `${unexpected(issue.keys)} (this request takes no body, or {})` : 'must be empty or the JSON object {}') },
  )
  .optional();

/** What a gate reports about its workspace: traffic through it, and whether the tool is busy. */
export const agentActivityBody = z.strictObject(
  {
    traffic: z.boolean({ error: 'must be true or false' }),
    busy: z.boolean({ error: 'must be true or false' }),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? unexpected(issue.keys) : 'must be a JSON object {"traffic": boolean, "busy": boolean}') },
);

const instanceId = z.string({ error: 'is required' }).min(1, { error: 'must not be empty' }).max(2048, { error: 'is too long' });

/** A compute event already normalized by its source (core `ComputeEvent`). */
export const computeEvent = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('running'), instanceId, address: z.string().min(1, { error: 'must not be empty' }) }),
    z.strictObject({ kind: z.literal('tool-ready'), instanceId }),
    z.strictObject({ kind: z.literal('stopped'), instanceId }),
    z.strictObject({ kind: z.literal('terminated'), instanceId }),
    z.strictObject({ kind: z.literal('failed'), instanceId, reason: z.string().min(1, { error: 'must not be empty' }).max(1000) }),
  ],
  { error: 'must have kind running, tool-ready, stopped, terminated or failed' },
);

/** EventBridge `detail` of a normalized compute event. Tags find a record whose instance id is not recorded yet. */
export const computeEventDetail = z.object({
  event: computeEvent,
  tags: z.record(z.string(), z.string()).optional(),
});

export type ComputeEventDetail = z.output<typeof computeEventDetail>;
