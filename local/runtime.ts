/**
 * The local composition root: the same handlers and the same DynamoDB adapter as on AWS, wired to
 * local adapters (processes for compute, folders for homes, a hostname map for DNS) on real parts
 * (dynalite, Jupyter, the gate). `npm start` runs it; the integration tests start it too.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { DynamoWorkspaceStore } from '../lambdas/adapters/aws/dynamo-store.js';
import { DynamoAnalysisCatalog } from '../lambdas/adapters/aws/dynamo-catalog.js';
import { OidcClient } from '../lambdas/adapters/oidc-client.js';
import { deskSessionIdentity } from '../lambdas/adapters/oidc-identity.js';
import { LocalKeySigner, TokenVerifier } from '../lambdas/adapters/tokens.js';
import { loadConfig } from '../lambdas/handlers/config.js';
import * as app from '../lambdas/handlers/app.js';
import { HTTP_ROUTES } from '../lambdas/handlers/routes.js';
import { systemClock, type Log, type Workspace } from '../lambdas/core/index.js';
import { LocalHttpApi, type Route } from './api-gateway.js';
import { LocalCompute } from './compute.js';
import { writeFileAtomic } from './files.js';
import { LocalHomes } from './homes.js';
import { LocalHostnames } from './hostnames.js';
import { LOCAL_CLIENT_ID, LOCAL_IDP_PATH, LocalIdentityProvider, loopbackFetch } from './idp.js';
import { startDynalite, type LocalDynamo } from './dynamodb.js';
import { createRouter } from './router.js';
import { DEMO_ANALYSES, DEMO_USERS } from './seed.js';
import { serveStatic } from './static-site.js';
import type { LocalConfig } from './config.js';
import { StoredArchiveFiles } from '../lambdas/adapters/archive-files.js';
import { DeskReleaseLinks } from '../lambdas/adapters/release-links.js';
import { unifiedDiff } from '../lambdas/adapters/text-diff.js';
import { loadRunsConfig } from '../lambdas/handlers/runs-config.js';
import { cachedEnclaveDefinition } from './enclave/definition-cache.js';
import { HomesWithDemoData, seedDemoDatasets, type DemoDatasets } from './enclave/demo-data.js';
import { createLocalEnclave, type LocalEnclave } from './enclave/enclave.js';
import { makeOutboxHandler } from './enclave/outbox-route.js';

export const TABLE_NAME = 'carrel';

export interface LocalRuntime {
  readonly deskUrl: string;
  readonly port: number;
  readonly deps: app.AppDeps;
  readonly compute: LocalCompute;
  readonly hostnames: LocalHostnames;
  readonly homes: HomesWithDemoData;
  readonly idp: LocalIdentityProvider;
  /** The enclave: the synthesized state machine run locally, its object store, outbox and task tokens. */
  readonly enclave: LocalEnclave;
  /** The demo datasets (real: the runs' `/data`; synthetic: copied into new homes). */
  readonly datasets: DemoDatasets;
  /** The local DynamoDB (for operation counting in benchmarks). */
  readonly dynamo: LocalDynamo;
  /** Run one housekeeping pass now (the timer runs them on its own too). */
  housekeeping(): Promise<unknown>;
  /** Stop serving; workspaces keep running (as on AWS), unless `stopWorkspaces`. */
  close(options?: { stopWorkspaces?: boolean }): Promise<void>;
}

export interface RuntimeAssets {
  /** Built front desk folder (index.html + bundles). */
  readonly siteDir: string;
  /** Bundled gate, run with node. */
  readonly gateBundle: string;
}

async function keyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    const pem = LocalKeySigner.generatePem();
    await writeFileAtomic(path, pem, 0o600);
    return pem;
  }
}

function jsonLog(component: string): Log {
  const write = (level: string) => (message: string, data?: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...data })}\n`);
  return { info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

export async function startLocalRuntime(config: LocalConfig, assets: RuntimeAssets, log: Log = jsonLog('carrel-local')): Promise<LocalRuntime> {
  const dataDir = config.dataDir;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const deskHost = `${config.CARREL_DESK_DOMAIN}:${config.PORT}`;
  const deskOrigin = `http://${deskHost}`;

  // DynamoDB: dynalite persisted under the data folder, driven by the production adapter.
  const dynamo = await startDynalite({ path: join(dataDir, 'dynamodb'), tableName: TABLE_NAME });
  const doc = dynamo.doc;
  const catalog = new DynamoAnalysisCatalog(doc, TABLE_NAME);
  for (const analysis of DEMO_ANALYSES) await catalog.putAnalysis(analysis);
  for (const user of DEMO_USERS) await catalog.putUser(user);

  const signingPem = await keyFile(join(dataDir, 'keys', 'desk-signing.pem'));
  const idpPem = await keyFile(join(dataDir, 'keys', 'local-idp.pem'));
  const deskConfig = loadConfig({
    TABLE_NAME,
    DEPLOYMENT_ID: 'local',
    DESK_DOMAIN: config.CARREL_DESK_DOMAIN,
    COOKIE_DOMAIN: config.CARREL_DESK_DOMAIN,
    PUBLIC_URL_SCHEME: 'http',
    PUBLIC_PORT: String(config.PORT),
    COOKIE_SECURE: String(config.CARREL_COOKIE_SECURE),
    SIGNING_KEY_PEM: signingPem,
    OIDC_ISSUER: `${deskOrigin}${LOCAL_IDP_PATH}`,
    OIDC_AUDIENCE: LOCAL_CLIENT_ID,
    OIDC_CLIENT_ID: LOCAL_CLIENT_ID,
    OIDC_SCOPES: 'profile groups',
    IDLE_TIMEOUT_SECONDS: String(config.CARREL_IDLE_TIMEOUT_SECONDS),
    IDLE_WARNING_SECONDS: String(config.CARREL_IDLE_WARNING_SECONDS),
    STOPPED_RETENTION_HOURS: String(config.CARREL_STOPPED_RETENTION_HOURS),
    HEARTBEAT_SECONDS: String(config.CARREL_HEARTBEAT_SECONDS),
  });
  // A real (small) OpenID Connect provider on the desk's origin; the desk signs in through it with the
  // production handlers, as a public client with PKCE.
  const idp = new LocalIdentityProvider(idpPem, deskConfig.oidc.issuer, catalog, {
    clientId: deskConfig.oidc.clientId,
    redirectUris: [app.callbackUrl(deskConfig)],
    postLogoutRedirectUris: [`${deskOrigin}/`],
  });
  const signer = new LocalKeySigner(signingPem, 'local-desk');
  const verifier = await TokenVerifier.fromPem(await signer.publicKeyPem());
  const hostnames = new LocalHostnames(dataDir, config.CARREL_DESK_DOMAIN);
  const datasets = await seedDemoDatasets(join(dataDir, 'datasets'), DEMO_ANALYSES.map((a) => a.analysisId));
  const homes = new HomesWithDemoData(new LocalHomes(join(dataDir, 'homes')), datasets);

  // The enclave: same run use cases and DynamoDB adapter; the synthesized state machine run in-process.
  const runsConfig = loadRunsConfig({
    REQUIRED_APPROVALS: config.CARREL_REQUIRED_APPROVALS,
    SMALL_COUNT_THRESHOLD: String(config.CARREL_SMALL_COUNT_THRESHOLD),
    RELEASE_LINK_TTL_SECONDS: String(config.CARREL_RELEASE_LINK_TTL_SECONDS),
    SUBMISSION_EXCLUDES: config.CARREL_SUBMISSION_EXCLUDES,
  });
  const reviewers = DEMO_USERS.filter((u) => (u.roles as readonly string[]).includes(runsConfig.policy.reviewerRole)).map((u) => u.userId);
  if (reviewers.length < runsConfig.policy.requiredApprovals) {
    // Not refused: users can be added while it runs (the tests do). Said at start, so nobody waits a week to learn it.
    log.warn('fewer reviewers than approvals needed: every run will wait at code review until its deadline unless a reviewer is added (DEMO_USERS in local/seed.ts)', {
      requiredApprovals: runsConfig.policy.requiredApprovals,
      reviewers,
    });
  }
  const enclave = await createLocalEnclave({
    root: join(dataDir, 'enclave'),
    doc,
    tableName: TABLE_NAME,
    datasetOf: (analysisId) => datasets.realOf(analysisId),
    reviewers,
    deskOrigin,
    links: new DeskReleaseLinks(signer, deskOrigin),
    policy: runsConfig.policy,
    log,
    homes,
    exclude: runsConfig.exclude,
    smallCountThreshold: runsConfig.limits.smallCountThreshold,
    runTimeoutMs: config.CARREL_RUN_TIMEOUT_SECONDS * 1000,
    definition: await cachedEnclaveDefinition(runsConfig.policy, resolve(config.CARREL_CACHE_DIR)),
  });
  const interrupted = await enclave.failInterrupted(DEMO_ANALYSES.map((a) => a.analysisId));
  if (interrupted.length) log.warn('enclave runs interrupted by a restart were failed', { runs: interrupted.map((r) => `${r.analysisId}.${r.runId}`) });

  let deps!: app.AppDeps;
  const compute = new LocalCompute({
    dataDir,
    deskDomain: config.CARREL_DESK_DOMAIN,
    gateBundle: resolve(assets.gateBundle),
    deskOrigin,
    activityUrl: `http://127.0.0.1:${config.PORT}/api/agent/activity`,
    publicKeyPem: () => signer.publicKeyPem(),
    agentTokenFor: (ws: Workspace) => app.agentTokenFor(deps, ws),
    jupyterCommand: config.CARREL_JUPYTER_COMMAND,
    toolStartTimeoutMs: config.CARREL_TOOL_START_TIMEOUT_SECONDS * 1000,
    gateReportSeconds: config.CARREL_GATE_REPORT_SECONDS,
    log,
  });
  deps = {
    store: new DynamoWorkspaceStore(doc, TABLE_NAME),
    catalog,
    compute,
    homes,
    hostnames,
    clock: systemClock,
    policy: deskConfig.policy,
    log,
    deploymentId: deskConfig.deploymentId,
    identity: deskSessionIdentity(signer, { cookieName: deskConfig.sessionCookie }),
    oidc: new OidcClient({
      issuer: deskConfig.oidc.issuer,
      clientId: deskConfig.oidc.clientId,
      scopes: deskConfig.oidc.scopes,
      rolesClaim: deskConfig.oidc.rolesClaim,
      fetch: loopbackFetch(config.CARREL_DESK_DOMAIN),
    }),
    signer,
    verifier,
    config: deskConfig,
    // What a local launch typically takes (a process start, not an instance boot).
    estimates: { reserving: 1, starting: 3, connecting: 1 },
    enclave: {
      ...enclave.deps,
      catalog,
      executions: enclave.runner,
      files: new StoredArchiveFiles(enclave.objects),
      diff: unifiedDiff,
      limits: runsConfig.limits,
    },
  };

  const computeEvents = app.makeComputeEventsHandler(deps);
  compute.onEvent(async (event, tags) => {
    await computeEvents({ event, tags });
  });
  const housekeepingHandler = app.makeHousekeepingHandler(deps);

  const routes: Route[] = [
    ...HTTP_ROUTES.map((route) => ({ method: route.method, path: route.path, handler: app.HTTP_HANDLERS[route.entry](deps) })),
    // Local only: the stand-in for the organisation's SSO.
    ...idp.routes(),
    // Local only: the mail the enclave would send with SES.
    { method: 'GET', path: '/api/outbox', handler: makeOutboxHandler(deps, enclave.notifier) },
  ];
  const router = createRouter({ deskDomain: config.CARREL_DESK_DOMAIN, api: new LocalHttpApi(routes), site: serveStatic(resolve(assets.siteDir)), hostnames });
  const servers: Server[] = [router];
  await new Promise<void>((ok, fail) => {
    router.once('error', fail);
    router.listen(config.PORT, '127.0.0.1', () => ok());
  });
  // Browsers may resolve *.localhost to ::1 as well; serve there too when the host has IPv6.
  const v6 = createRouter({ deskDomain: config.CARREL_DESK_DOMAIN, api: new LocalHttpApi(routes), site: serveStatic(resolve(assets.siteDir)), hostnames });
  await new Promise<void>((ok) => {
    v6.once('error', () => ok());
    v6.listen(config.PORT, '::1', () => {
      servers.push(v6);
      ok();
    });
  });

  let running: Promise<unknown> = Promise.resolve();
  const housekeeping = () => {
    running = running.then(async () => {
      await compute.supervise();
      return housekeepingHandler({});
    });
    return running;
  };
  const timer = setInterval(() => void housekeeping().catch((error) => log.error('housekeeping failed', { error: String(error) })), config.CARREL_HOUSEKEEPING_SECONDS * 1000);
  timer.unref();
  log.info('carrel is running', { desk: deskOrigin, data: dataDir });

  return {
    deskUrl: deskOrigin,
    port: config.PORT,
    deps,
    compute,
    hostnames,
    homes,
    idp,
    enclave,
    datasets,
    dynamo,
    housekeeping,
    async close(options) {
      clearInterval(timer);
      await running.catch(() => undefined);
      if (options?.stopWorkspaces) {
        for (const instance of await compute.listTagged()) await compute.terminate(instance.instanceId).catch(() => undefined);
      }
      enclave.stop();
      compute.detach();
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((ok) => server.close(ok));
      }
      await dynamo.close();
    },
  };
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
