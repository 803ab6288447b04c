/**
 * TaskIdentityPort on AWS: a Fargate workspace task proves who it is with an `sts:GetCallerIdentity`
 * request it signed (SigV4) with its task role's credentials but did not send (the "IAM auth" pattern of
 * HashiCorp Vault). The desk checks the request is exactly that call, to this region's STS endpoint, bound
 * to this desk by the signed `x-carrel-server-id` header, and recent; forwards it unchanged to STS; and
 * reads the caller from STS's answer: `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`,
 * where ECS names the session after the task id. No credential or secret reaches the desk: a signature
 * over one fixed request is all it sees, and it is useless for anything else or at any other desk.
 */
import { GET_CALLER_IDENTITY_BODY, GET_CALLER_IDENTITY_CONTENT_TYPE, SERVER_ID_HEADER } from '../../../assets/gate/bootstrap-contract.js';
import { TransientError, UnauthenticatedError } from '../../core/errors.js';
import type { TaskIdentity, TaskIdentityPort } from '../../core/ports.js';
import type { WorkspaceKey } from '../../core/workspace.js';
import { homeRoleName, locationOfArn, type AwsLocation } from './iam-home-roles.js';

export interface StsTaskIdentityOptions {
  readonly deploymentId: string;
  /** The workspaces' cluster: the tasks' account, region and partition, and their ARNs' prefix. */
  readonly clusterArn: string;
  /** The desk domain: the value the signed `x-carrel-server-id` header must carry. */
  readonly serverId: string;
  /** The STS endpoint; default the cluster region's (`https://sts.<region>.amazonaws.com/`). */
  readonly stsUrl?: string;
  /** How long to wait for STS (default 5 s). */
  readonly timeoutMs?: number;
  /** How old a signature may be (default 5 minutes; STS itself allows 15). */
  readonly maxAgeMs?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => Date;
}

/** The headers a signed GetCallerIdentity may carry; anything else is refused, so nothing else is forwarded. */
const ALLOWED_HEADERS = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'host', 'content-type', 'content-length', SERVER_ID_HEADER]);
/** Headers the signature must cover. */
const MUST_SIGN = ['host', 'x-amz-date', SERVER_ID_HEADER];
const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]+)\/sts\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/([\w+=,.@-]{2,64})$/;
/** ECS task ids: 32 hex digits (or the older UUID form). */
const TASK_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export class StsTaskIdentity implements TaskIdentityPort {
  private readonly location: AwsLocation;
  private readonly stsUrl: string;
  private readonly taskPrefix: string;

  constructor(private readonly options: StsTaskIdentityOptions) {
    this.location = locationOfArn(options.clusterArn);
    this.stsUrl = options.stsUrl ?? stsUrlFor(this.location);
    const cluster = /:cluster\/([A-Za-z0-9_-]{1,255})$/.exec(options.clusterArn)?.[1];
    if (!cluster) throw new Error(`StsTaskIdentity: "${options.clusterArn}" is not an ECS cluster ARN`);
    const { partition, region, account } = this.location;
    this.taskPrefix = `arn:${partition}:ecs:${region}:${account}:task/${cluster}/`;
  }

  roleFor(key: WorkspaceKey): string {
    return homeRoleName(this.options.deploymentId, key);
  }

  async identify(proof: unknown): Promise<TaskIdentity> {
    const request = this.check(proof);
    const arn = await this.callerOf(request);
    const match = ASSUMED_ROLE.exec(arn);
    if (!match) throw new UnauthenticatedError(`The signer is not a task role session (${arn})`);
    const [, partition, account, role, session] = match;
    if (partition !== this.location.partition || account !== this.location.account) {
      throw new UnauthenticatedError(`The signer belongs to another AWS account (${account})`);
    }
    if (!TASK_ID.test(session!)) throw new UnauthenticatedError(`The signer's session "${session}" is not an ECS task`);
    return { instanceId: `${this.taskPrefix}${session}`, role: role! };
  }

  /** The proof must be exactly a signed GetCallerIdentity to our STS endpoint, for this desk, recent. */
  private check(proof: unknown): { readonly headers: Record<string, string> } {
    const refuse = (why: string): never => {
      throw new UnauthenticatedError(`The identity proof was refused: ${why}`);
    };
    if (!proof || typeof proof !== 'object') refuse('it is not a signed request');
    const { url, body, headers: raw } = proof as { url?: unknown; body?: unknown; headers?: unknown };
    if (url !== this.stsUrl) refuse(`it must be sent to ${this.stsUrl}`);
    if (body !== GET_CALLER_IDENTITY_BODY) refuse('its body must be exactly a GetCallerIdentity call');
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) refuse('it has no headers');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
      const lower = name.toLowerCase();
      if (typeof value !== 'string' || value.length > 4096 || /[\r\n]/.test(value)) refuse(`header ${lower} is not a single line of text`);
      if (!ALLOWED_HEADERS.has(lower)) refuse(`header ${lower} is not part of a GetCallerIdentity request`);
      if (lower in headers) refuse(`header ${lower} is given twice`);
      headers[lower] = value as string;
    }
    const host = new URL(this.stsUrl).host;
    if (headers.host !== undefined && headers.host !== host) refuse(`its host must be ${host}`);
    if (headers['content-type'] !== GET_CALLER_IDENTITY_CONTENT_TYPE) refuse(`its content-type must be ${GET_CALLER_IDENTITY_CONTENT_TYPE}`);
    if (headers[SERVER_ID_HEADER] !== this.options.serverId) refuse(`it is meant for another server (${SERVER_ID_HEADER} must be ${this.options.serverId})`);
    const auth = AUTHORIZATION.exec(headers.authorization ?? '');
    if (!auth) refuse('its authorization is not an AWS SigV4 signature for STS');
    const [, , scopeDate, region, signed] = auth!;
    const signedHeaders = signed!.split(';');
    for (const name of [...MUST_SIGN, ...(headers['x-amz-security-token'] ? ['x-amz-security-token'] : [])]) {
      if (!signedHeaders.includes(name)) refuse(`the signature must cover the ${name} header`);
    }
    if (region !== this.location.region) refuse(`it is signed for region ${region}, not ${this.location.region}`);
    const date = AMZ_DATE.exec(headers['x-amz-date'] ?? '');
    if (!date) refuse('x-amz-date is missing or malformed');
    if (`${date![1]}${date![2]}${date![3]}` !== scopeDate) refuse('x-amz-date does not match the signature scope');
    const signedAt = Date.UTC(Number(date![1]), Number(date![2]) - 1, Number(date![3]), Number(date![4]), Number(date![5]), Number(date![6]));
    const now = (this.options.now?.() ?? new Date()).getTime();
    const maxAge = this.options.maxAgeMs ?? 5 * 60_000;
    if (Math.abs(now - signedAt) > maxAge) {
      const skew = Math.round((now - signedAt) / 1000);
      refuse(`it was signed ${skew > 0 ? `${skew} s ago` : `${-skew} s in the future`} (at most ${maxAge / 1000} s either way)`);
    }
    return { headers };
  }

  /** Forward the request as signed (fetch sets host and content-length itself) and read the caller's ARN. */
  private async callerOf(request: { readonly headers: Record<string, string> }): Promise<string> {
    const forwarded = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'host' && name !== 'content-length'));
    let response: Response;
    let text: string;
    try {
      response = await (this.options.fetch ?? fetch)(this.stsUrl, {
        method: 'POST',
        headers: forwarded,
        body: GET_CALLER_IDENTITY_BODY,
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      });
      text = await response.text();
    } catch (error) {
      const what = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError') ? 'did not answer in time' : 'could not be reached';
      throw new TransientError(`AWS STS ${what} to check the workspace's identity`, { cause: error });
    }
    const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
    if (response.status === 429 || response.status >= 500 || code === 'Throttling' || code === 'RequestLimitExceeded') {
      throw new TransientError(`AWS STS could not check the workspace's identity now (HTTP ${response.status}${code ? ` ${code}` : ''})`);
    }
    if (!response.ok) throw new UnauthenticatedError(`AWS STS refused the signed identity request (HTTP ${response.status}${code ? ` ${code}` : ''})`);
    const arn = /<GetCallerIdentityResult>[\s\S]*?<Arn>([^<]{1,2048})<\/Arn>/.exec(text)?.[1];
    if (!arn) throw new TransientError('AWS STS answered without the caller’s ARN');
    return arn;
  }
}

/** The regional STS endpoint of a location (the bootstrap step signs for the same URL: CARREL_GATE_STS_URL). */
export function stsUrlFor(location: AwsLocation): string {
  return `https://sts.${location.region}.amazonaws.com${location.partition === 'aws-cn' ? '.cn' : ''}/`;
}
