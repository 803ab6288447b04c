/**
 * What the Fargate bootstrap step, the desk's bootstrap route and the task definition agree on (no code
 * that runs, so CDK and the desk import it without the gate). See docs/contracts.md, "Fargate bootstrap".
 */

/** The desk route a Fargate workspace's bootstrap step calls. */
export const BOOTSTRAP_PATH = '/api/agent/bootstrap';

/** Signed header binding a signed GetCallerIdentity to one desk: its value is the desk domain. */
export const SERVER_ID_HEADER = 'x-carrel-server-id';

/** The only STS request the desk forwards (the signed body, byte for byte). */
export const GET_CALLER_IDENTITY_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';
export const GET_CALLER_IDENTITY_CONTENT_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';

/** Variables of the bootstrap step (the gate image run with `CARREL_GATE_MODE=bootstrap`). */
export const BOOTSTRAP_ENV = {
  mode: 'CARREL_GATE_MODE',
  url: 'CARREL_GATE_BOOTSTRAP_URL',
  serverId: 'CARREL_GATE_SERVER_ID',
  stsUrl: 'CARREL_GATE_STS_URL',
  stsRegion: 'CARREL_GATE_STS_REGION',
  settingsFile: 'CARREL_GATE_SETTINGS_FILE',
  toolTokenFile: 'CARREL_GATE_TOOL_TOKEN_FILE',
  attempts: 'CARREL_GATE_BOOTSTRAP_ATTEMPTS',
} as const;

/**
 * Where the bootstrap step leaves its results, on two task volumes: the gate's settings (only `bootstrap`
 * and `gate` mount that volume) and the tool's token (only `bootstrap` and `tool` mount that one).
 */
export const FARGATE_SECRETS = {
  gateVolume: 'gate-secrets',
  gateDir: '/run/carrel/gate',
  settingsFile: '/run/carrel/gate/settings.json',
  toolVolume: 'tool-secrets',
  toolDir: '/run/carrel/tool',
  toolTokenFile: '/run/carrel/tool/token',
} as const;

/** The desk's answer: the workspace generation's own settings (the names are the gate's variables). */
export interface BootstrapAnswer {
  readonly CARREL_GATE_HOSTNAME: string;
  readonly CARREL_GATE_HOST_LABEL: string;
  readonly CARREL_GATE_PUBLIC_KEY: string;
  readonly CARREL_GATE_AGENT_TOKEN: string;
}

/** The variables a settings file may set: the per-workspace ones and the tool's token the step made. */
export const SETTINGS_FILE_NAMES = [
  'CARREL_GATE_HOSTNAME',
  'CARREL_GATE_HOST_LABEL',
  'CARREL_GATE_PUBLIC_KEY',
  'CARREL_GATE_AGENT_TOKEN',
  'CARREL_GATE_UPSTREAM_AUTH',
] as const;
