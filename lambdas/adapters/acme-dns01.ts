/**
 * A certificate authority over ACME (RFC 8555) with DNS-01 challenges, using acme-client.
 *
 * issue(`*.desk.example.org`): a fresh ECDSA P-256 key and CSR, an order, and for each authorization the
 * DNS-01 value published at `_acme-challenge.<identifier>` through ChallengeRecords (which returns once
 * authoritative DNS answers with it). The value is removed again whatever happens (acme-client's `auto`
 * calls the remove step in a `finally`); a removal that fails is logged here, as acme-client only swallows it.
 *
 * acme-client's own pre-check of the TXT record (a lookup through the authoritative servers) is skipped:
 * ChallengeRecords returns only once Route 53 reports the change INSYNC, which is the authoritative answer,
 * and the lookup would go through whatever resolver the Lambda has.
 *
 * Errors: network failures reaching the CA become TransientError; what the CA refuses (a failed challenge,
 * a rejected order, rate limits once acme-client's own retries of 429/5xx are spent) becomes
 * CertificateAuthorityError with the CA's reason. Errors of ChallengeRecords pass through as they are.
 */
import type { Agent } from 'node:https';
import * as acme from 'acme-client';
import { CarrelError, TransientError } from '../core/errors.js';
import type { Log } from '../core/ports.js';
import type { CertificateAuthorityPort, IssuedCertificate } from '../core/use-cases/renew-certificate.js';
import type { ChallengeRecords } from './aws/route53-challenges.js';
import { certificateFacts } from './x509-names.js';

/** The ACME account's private key (PEM), created on first use and kept. */
export interface AccountKeySource {
  get(): Promise<string>;
}

export interface AcmeDns01Options {
  /** The CA's ACME directory, e.g. Let's Encrypt's `https://acme-v02.api.letsencrypt.org/directory`. */
  readonly directoryUrl: string;
  /** The account's contact (the CA writes about expiring certificates and policy changes). @default - none */
  readonly email?: string;
  readonly accountKey: AccountKeySource;
  readonly records: ChallengeRecords;
  /**
   * An HTTPS agent for the CA only (e.g. one that trusts a test CA's own certificate). Applied to requests
   * to the directory's origin; nothing else in the process is affected. @default - Node's default trust
   */
  readonly httpsAgent?: Agent;
  /** How acme-client polls pending authorizations and orders. @default 5 s first, at most 30 s, 10 times */
  readonly poll?: { readonly minMs: number; readonly maxMs: number; readonly attempts: number };
  readonly log: Log;
}

/** The CA refused (a failed challenge, a rejected order or account, a certificate that does not parse). */
export class CertificateAuthorityError extends CarrelError {}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'ERR_NETWORK']);
const NAME = /^(\*\.)?([a-z0-9-]+\.)+[a-z0-9-]+$/;

export class AcmeDns01Authority implements CertificateAuthorityPort {
  constructor(private readonly options: AcmeDns01Options) {
    if (options.httpsAgent) trustOnlyFor(options.directoryUrl, options.httpsAgent);
  }

  async issue(name: string): Promise<IssuedCertificate> {
    const lower = name.toLowerCase();
    if (!NAME.test(lower)) throw new CertificateAuthorityError(`${name} is not a domain name (or *.<domain>)`);
    const { log, records, directoryUrl } = this.options;
    try {
      const accountKey = await this.options.accountKey.get();
      const client = new acme.Client({
        directoryUrl,
        accountKey,
        ...(this.options.poll ? { backoffMin: this.options.poll.minMs, backoffMax: this.options.poll.maxMs, backoffAttempts: this.options.poll.attempts } : {}),
      });
      const [privateKey, csr] = await acme.crypto.createCsr({ altNames: [lower] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const chain = await client.auto({
        csr,
        ...(this.options.email ? { email: this.options.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['dns-01'],
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'dns-01') throw new CertificateAuthorityError(`The CA offered no DNS-01 challenge for ${authz.identifier.value}`);
          log.info('publishing the ACME DNS-01 challenge', { record: challengeName(authz.identifier.value) });
          await records.add(challengeName(authz.identifier.value), keyAuthorization);
        },
        challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'dns-01') return;
          try {
            await records.remove(challengeName(authz.identifier.value), keyAuthorization);
          } catch (error) {
            log.warn('removing the ACME DNS-01 challenge failed; the next renewal removes its own value only, so remove this one by hand', {
              record: challengeName(authz.identifier.value),
              error: error instanceof Error ? error.message : String(error),
            });
            throw error;
          }
        },
      });
      return certificateOf(chain, privateKey.toString());
    } catch (error) {
      throw mapAcmeError(error, lower, directoryUrl);
    }
  }
}

/** `_acme-challenge.<domain>` for an authorization's identifier (a wildcard's identifier has no `*.`). */
export function challengeName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '')}`;
}

function certificateOf(chain: string, privateKey: string): IssuedCertificate {
  try {
    return { certificate: chain.trim() + '\n', privateKey, ...certificateFacts(acme.crypto.splitPemChain(chain)[0] ?? '') };
  } catch (error) {
    throw new CertificateAuthorityError('The CA returned a certificate that does not parse', { cause: error });
  }
}

/** ACME failures as carrel errors (exported for tests: acme-client itself retries a network error for over a minute). */
export function mapAcmeError(error: unknown, name: string, directoryUrl: string): Error {
  if (error instanceof CarrelError) return error;
  const e = (error ?? {}) as { code?: string; isAxiosError?: boolean; response?: unknown; message?: string };
  const message = e.message ?? String(error);
  if ((e.code && NETWORK_CODES.has(e.code)) || (e.isAxiosError && !e.response)) {
    return new TransientError(`Reaching the ACME CA at ${directoryUrl} failed for now: ${message}`, { cause: error });
  }
  return new CertificateAuthorityError(`The ACME CA at ${directoryUrl} did not issue a certificate for ${name}: ${message}`, { cause: error });
}

/**
 * acme-client sends every request through one module-level axios instance and takes no agent; an
 * interceptor gives requests to the CA's origin (and only those) the agent.
 */
const agents = new Map<string, Agent>();
let intercepting = false;
function trustOnlyFor(directoryUrl: string, agent: Agent): void {
  agents.set(new URL(directoryUrl).origin, agent);
  if (intercepting) return;
  intercepting = true;
  acme.axios.interceptors.request.use((config) => {
    const agent = config.url && URL.canParse(config.url) ? agents.get(new URL(config.url).origin) : undefined;
    if (agent) config.httpsAgent = agent;
    return config;
  });
}
