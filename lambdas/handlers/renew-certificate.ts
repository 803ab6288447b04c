/**
 * The certificate renewal function: the gates' `*.<desk domain>` certificate, renewed with ACME DNS-01 when
 * it is missing or expires within RENEW_BEFORE_DAYS (core's renewCertificate). Invoked two ways:
 *
 * - the daily EventBridge schedule: a renewal that fails throws, so Lambda's retries and the log show it;
 *   tomorrow's run tries again, long before the certificate expires;
 * - the deploy's custom resource (`Custom::CarrelGateCertificate`), so a fresh deployment has a certificate:
 *   Create and Update run the renewal. A Create that fails answers FAILED with the reason, so the first
 *   deployment stops with it. An Update that fails answers SUCCESS and logs the error: CloudFormation's
 *   rollback would send another Update to the same function, which would fail the same way and leave the
 *   stack in UPDATE_ROLLBACK_FAILED; the daily run tries again. Delete does nothing (the secret goes with
 *   its own resource).
 *
 * Settings come from the environment, validated once (loadRenewCertificateConfig).
 */
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';
import * as z from 'zod';
import { renewCertificate, type RenewCertificateDeps, type RenewCertificateResult } from '../core/index.js';
import { describeError } from '../core/lifecycle.js';
import { ConfigError } from './config.js';

export const LETS_ENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';

export interface RenewCertificateConfig {
  readonly directoryUrl: string;
  readonly contactEmail?: string;
  readonly deskDomain: string;
  /** The certificate's name: `*.<deskDomain>`. */
  readonly name: string;
  readonly hostedZoneId: string;
  readonly certificateSecretArn: string;
  readonly accountKeySecretArn: string;
  readonly renewBeforeDays: number;
}

const secretArn = (what: string) =>
  z
    .string({ error: `is required (${what})` })
    .trim()
    .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, { error: `must be a Secrets Manager secret ARN (${what})` });

const renewEnv = z.object({
  ACME_DIRECTORY_URL: z.url({ protocol: /^https$/, error: 'must be an https:// URL (the ACME directory)' }).default(LETS_ENCRYPT_PRODUCTION),
  ACME_CONTACT_EMAIL: z.email({ error: 'must be an email address (the ACME account contact)' }).optional(),
  DESK_DOMAIN: z
    .string({ error: 'is required (workspaces are ws-<random>.<DESK_DOMAIN>)' })
    .trim()
    .toLowerCase()
    .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, { error: 'must be a DNS name like desk.example.org' }),
  HOSTED_ZONE_ID: z
    .string({ error: 'is required (the Route 53 zone of the desk domain)' })
    .trim()
    .regex(/^(\/hostedzone\/)?Z[A-Z0-9]{4,32}$/, { error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' }),
  GATE_CERTIFICATE_SECRET_ARN: secretArn('{certificate, privateKey, expiresAt} of the gates'),
  ACME_ACCOUNT_KEY_SECRET_ARN: secretArn('the ACME account key'),
  RENEW_BEFORE_DAYS: z.coerce
    .number({ error: 'must be a whole number of days' })
    .int({ error: 'must be a whole number of days' })
    .min(1, { error: 'must be at least 1' })
    .max(60, { error: 'must be at most 60 (certificates from Let’s Encrypt live 90 days or less)' })
    .default(30),
});

export function loadRenewCertificateConfig(env: Readonly<Record<string, string | undefined>> = process.env): RenewCertificateConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = renewEnv.safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`));
  const e = parsed.data;
  return {
    directoryUrl: e.ACME_DIRECTORY_URL,
    ...(e.ACME_CONTACT_EMAIL ? { contactEmail: e.ACME_CONTACT_EMAIL } : {}),
    deskDomain: e.DESK_DOMAIN,
    name: `*.${e.DESK_DOMAIN}`,
    hostedZoneId: e.HOSTED_ZONE_ID,
    certificateSecretArn: e.GATE_CERTIFICATE_SECRET_ARN,
    accountKeySecretArn: e.ACME_ACCOUNT_KEY_SECRET_ARN,
    renewBeforeDays: e.RENEW_BEFORE_DAYS,
  };
}

export interface RenewCertificateHandlerDeps extends RenewCertificateDeps {
  /** Uploads a custom resource's answer to CloudFormation (a PUT to the pre-signed ResponseURL). */
  readonly respond: (url: string, body: string) => Promise<void>;
}

function isCustomResourceEvent(event: unknown): event is CloudFormationCustomResourceEvent {
  const e = event as Partial<CloudFormationCustomResourceEvent> | null;
  return !!e && typeof e === 'object' && typeof e.RequestType === 'string' && typeof e.ResponseURL === 'string';
}

export function makeRenewCertificateHandler(deps: RenewCertificateHandlerDeps, config: Pick<RenewCertificateConfig, 'name' | 'renewBeforeDays'>) {
  const renew = () => renewCertificate(deps, { name: config.name, renewBeforeDays: config.renewBeforeDays });
  return async (event: unknown): Promise<RenewCertificateResult | CloudFormationCustomResourceResponse> => {
    if (!isCustomResourceEvent(event)) return renew();

    const base = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId };
    // One physical id for the life of the resource: an Update never replaces it (and never triggers a Delete).
    const physicalId = event.RequestType === 'Create' ? `gate-certificate:${config.name}` : event.PhysicalResourceId;
    let response: CloudFormationCustomResourceResponse;
    if (event.RequestType === 'Delete') {
      response = { ...base, Status: 'SUCCESS', PhysicalResourceId: physicalId };
    } else {
      try {
        const result = await renew();
        response = { ...base, Status: 'SUCCESS', PhysicalResourceId: physicalId, Data: { ExpiresAt: result.expiresAt.toISOString() } };
      } catch (error) {
        const reason = `The gate certificate for ${config.name} could not be issued: ${describeError(error)}`.slice(0, 1000);
        if (event.RequestType === 'Create') {
          response = { ...base, Status: 'FAILED', PhysicalResourceId: physicalId, Reason: reason };
        } else {
          deps.log.error('the renewal at deploy failed; the deployment goes on and the daily run tries again', { name: config.name, error: describeError(error) });
          response = { ...base, Status: 'SUCCESS', PhysicalResourceId: physicalId, Data: { Warning: reason } };
        }
      }
    }
    await deps.respond(event.ResponseURL, JSON.stringify(response));
    return response;
  };
}

/** The CloudFormation answer: a PUT of the JSON body with an empty content type (the URL is pre-signed for that). */
export async function respondToCloudFormation(url: string, body: string): Promise<void> {
  const response = await fetch(url, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error(`CloudFormation response upload failed: HTTP ${response.status}`);
}
