/**
 * The platform engineer's CLI (`npm run admin -- <command>`; bin/carrel-admin.ts is its entry point): another
 * composition root over the same use cases and adapters. It reads the deployed desk's own settings (the
 * environment of its `stop` function), so it acts exactly as the desk would, with the engineer's credentials.
 *
 *   workspaces [--analysis ID] [--json]      active workspaces (every record housekeeping still watches)
 *   stop ANALYSIS USER [--reason TEXT]       stop a workspace (its instance is kept for a resume; the home stays)
 *   runs --analysis ID [--json]              the analysis's enclave runs, newest first
 *   resources [--json]                       every cloud resource of the deployment, by its tag, plus the
 *                                            ws-* records and warm-pool spares (Route 53 records carry no tags);
 *                                            a run's own role or task definition is marked leftover once the
 *                                            run has ended (its clean-up failed)
 *   sweep-runs [--dry-run]                   delete the leftovers of ended runs (as the clean-up step would)
 */
import { parseArgs } from 'node:util';
import { describeError, listSpares, stopWorkspace, type Workspace, type WorkspaceDeps } from '../core/index.js';
import { isTerminalRunState, type Run, type RunKey } from '../core/runs/run.js';
import type { TaggedResource } from '../adapters/aws/deployment-resources.js';
import { ANALYSIS_ID, USER_ID } from './schemas.js';

/** What the CLI acts on, built lazily (a `help` needs no AWS call). */
export interface AdminContext {
  /** The desk's use-case dependencies, as the deployed stop function wires them. */
  readonly desk: () => Promise<WorkspaceDeps>;
  /** The analysis's runs, newest first. */
  readonly runs: (analysisId: string, limit: number) => Promise<readonly Run[]>;
  /** Every resource tagged with the deployment. */
  readonly resources: () => Promise<readonly TaggedResource[]>;
  /** One run (to tell a running run's own resources from an ended run's leftovers). */
  readonly run?: (key: RunKey) => Promise<Run | undefined>;
  /** Remove a run's own resources (its role, its task definitions), as the clean-up step does. */
  readonly cleanUpRun?: (key: RunKey) => Promise<readonly string[]>;
}

export interface AdminOutput {
  out(line: string): void;
  err(line: string): void;
}

export const ADMIN_USAGE = `usage: npm run admin -- <command> [options]   (deployment: --deployment ID or CARREL_DEPLOYMENT; region: AWS_REGION)

  workspaces [--analysis ID] [--json]    active workspaces
  stop ANALYSIS USER [--reason TEXT]     stop a workspace (instance kept for a resume, home kept)
  runs --analysis ID [--json]            the analysis's enclave runs, newest first
  resources [--json]                     every resource of the deployment (by tag), ws-* records, spares
  sweep-runs [--dry-run]                 delete ended runs' leftover roles and task definitions`;

/** A command line the CLI refuses: the message says what was wrong (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const FAR_FUTURE = '9999-12-31T23:59:59.999Z';
const LIST_LIMIT = 1000;

/** Runs one command; returns the process exit code (0 done, 1 failed, 2 bad command line). */
export async function runAdmin(argv: readonly string[], context: AdminContext, io: AdminOutput, now: () => Date = () => new Date()): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(argv);
  } catch (error) {
    io.err(`${describeError(error)}\n\n${ADMIN_USAGE}`);
    return 2;
  }
  try {
    switch (parsed.command) {
      case 'help':
        io.out(ADMIN_USAGE);
        return 0;
      case 'workspaces': {
        const deps = await context.desk();
        // Every record that is not terminated or failed has a due time: the byDue index lists them without a Scan.
        const active = (await deps.store.findDue(FAR_FUTURE, LIST_LIMIT)).filter((ws) => !parsed.analysisId || ws.analysisId === parsed.analysisId);
        print(io, parsed.json, active.map(workspaceRow), ['analysis', 'user', 'state', 'since', 'hostname', 'instance', 'reason']);
        return 0;
      }
      case 'stop': {
        const deps = await context.desk();
        const key = { analysisId: parsed.analysisId!, userId: parsed.userId! };
        const stopped = await stopWorkspace(deps, key, parsed.reason ?? 'Stopped by a platform engineer');
        if (stopped) {
          io.out(`stopping ${key.analysisId}/${key.userId} (instance ${stopped.instanceId ?? 'none'}); the home is kept`);
          return 0;
        }
        const current = await deps.store.get(key);
        io.err(current ? `${key.analysisId}/${key.userId} is ${current.state}: nothing to stop` : `There is no workspace ${key.analysisId}/${key.userId}`);
        return 1;
      }
      case 'runs': {
        const runs = await context.runs(parsed.analysisId!, 100);
        print(io, parsed.json, runs.map(runRow), ['run', 'state', 'submitted by', 'since', 'description']);
        return 0;
      }
      case 'resources': {
        const deps = await context.desk();
        const [tagged, hostnames, spares] = await Promise.all([context.resources(), deps.hostnames.list(), listSpares(deps)]);
        const ended = await endedRuns(context, tagged);
        const rows = [
          ...tagged.map((r) => {
            const run = runKeyOf(r);
            const state = run && ended.get(`${run.analysisId}/${run.runId}`);
            return { type: r.type, id: r.arn, detail: `${describeTags(r.tags)}${state ? ` leftover (run ${state})` : ''}` };
          }),
          ...hostnames.map((hostname) => ({ type: 'route53:record', id: hostname, detail: 'A record (Route 53 records carry no tags)' })),
          ...spares.map((spare) => ({ type: 'carrel:spare', id: spare.spareId, detail: `${spare.size} ${spare.state}${spare.instanceId ? ` ${spare.instanceId}` : ''}` })),
        ];
        print(io, parsed.json, rows, ['type', 'id', 'detail']);
        if (!parsed.json) io.out(`${rows.length} resources at ${now().toISOString()}`);
        return 0;
      }
      case 'sweep-runs': {
        if (!context.cleanUpRun) throw new Error('This deployment has no enclave runs to sweep');
        const tagged = await context.resources();
        const ended = await endedRuns(context, tagged);
        let failed = 0;
        for (const id of [...ended.keys()].sort()) {
          const [analysisId, runId] = id.split('/') as [string, string];
          if (parsed.dryRun) {
            io.out(`would clean up run ${runId} of ${analysisId} (${ended.get(id)})`);
            continue;
          }
          try {
            const removed = await context.cleanUpRun({ analysisId, runId });
            io.out(`run ${runId} of ${analysisId} (${ended.get(id)}): ${removed.length ? `removed ${removed.join(', ')}` : 'nothing left'}`);
          } catch (error) {
            failed++;
            io.err(`run ${runId} of ${analysisId}: ${describeError(error)}`);
          }
        }
        if (ended.size === 0) io.out('no leftovers of ended runs');
        return failed ? 1 : 0;
      }
    }
  } catch (error) {
    io.err(`carrel-admin ${parsed.command}: ${describeError(error)}`);
    return 1;
  }
}

interface ParsedCommand {
  readonly command: 'help' | 'workspaces' | 'stop' | 'runs' | 'resources' | 'sweep-runs';
  readonly analysisId?: string;
  readonly userId?: string;
  readonly reason?: string;
  readonly json: boolean;
  readonly dryRun?: boolean;
}

function parseCommand(argv: readonly string[]): ParsedCommand {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      analysis: { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      deployment: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const [command = 'help', ...rest] = positionals;
  const json = values.json ?? false;
  const analysis = (value: string | undefined, what: string) => {
    if (value === undefined) return undefined;
    if (!ANALYSIS_ID.test(value)) throw new UsageError(`${what} "${value}" is not an analysis id (lower-case letters, digits and dashes)`);
    return value;
  };
  if (values.help || command === 'help') return { command: 'help', json };
  const noMore = (n: number) => {
    if (rest.length > n) throw new UsageError(`${command} takes ${n === 0 ? 'no' : n} argument${n === 1 ? '' : 's'}; got ${rest.join(' ')}`);
  };
  switch (command) {
    case 'workspaces':
    case 'resources':
      noMore(0);
      return { command, analysisId: analysis(values.analysis, '--analysis'), json };
    case 'sweep-runs':
      noMore(0);
      return { command, json, dryRun: values['dry-run'] ?? false };
    case 'runs': {
      noMore(0);
      const analysisId = analysis(values.analysis, '--analysis');
      if (!analysisId) throw new UsageError('runs needs --analysis ID');
      return { command, analysisId, json };
    }
    case 'stop': {
      noMore(2);
      const [analysisId, userId] = rest;
      if (!analysisId || !userId) throw new UsageError('stop needs ANALYSIS and USER');
      if (!USER_ID.test(userId)) throw new UsageError(`USER "${userId}" is not a user id`);
      if (values.reason !== undefined && !values.reason.trim()) throw new UsageError('--reason must not be empty');
      return { command, analysisId: analysis(analysisId, 'ANALYSIS'), userId, reason: values.reason?.trim(), json };
    }
    default:
      throw new UsageError(`Unknown command "${command}"`);
  }
}

/** The run a resource was made for (its carrel:analysis and carrel:run tags), if it is a run's own. */
function runKeyOf(resource: TaggedResource): RunKey | undefined {
  const { 'carrel:analysis': analysisId, 'carrel:run': runId } = resource.tags;
  return analysisId && runId ? { analysisId, runId } : undefined;
}

/** `<analysisId>/<runId>` → state, for the runs that own some of `resources` and have ended (or have no record). */
async function endedRuns(context: AdminContext, resources: readonly TaggedResource[]): Promise<Map<string, string>> {
  const ended = new Map<string, string>();
  if (!context.run) return ended;
  const keys = new Map(resources.map(runKeyOf).filter((k): k is RunKey => !!k).map((k) => [`${k.analysisId}/${k.runId}`, k]));
  for (const [id, key] of keys) {
    const run = await context.run(key);
    if (!run) ended.set(id, 'no record');
    else if (isTerminalRunState(run.state)) ended.set(id, run.state);
  }
  return ended;
}

function workspaceRow(ws: Workspace): Record<string, string> {
  return {
    analysis: ws.analysisId,
    user: ws.userId,
    state: ws.state,
    since: ws.stateEnteredAt,
    hostname: ws.hostname ?? '',
    instance: ws.instanceId ?? '',
    reason: ws.reason ?? '',
  };
}

function runRow(run: Run): Record<string, string> {
  return { run: run.runId, state: run.state, 'submitted by': run.submittedBy, since: run.stateEnteredAt, description: run.description };
}

function describeTags(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags)
    .filter(([key]) => key.startsWith('carrel:') && key !== 'carrel:deployment')
    .map(([key, value]) => `${key.slice('carrel:'.length)}=${value}`)
    .join(' ');
}

/** Rows as JSON lines or as an aligned table with a header. */
function print(io: AdminOutput, json: boolean, rows: readonly Record<string, string>[], columns: readonly string[]): void {
  if (json) {
    io.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    io.out('(none)');
    return;
  }
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  io.out(line(columns));
  io.out(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) io.out(line(columns.map((c) => row[c] ?? '')));
}
