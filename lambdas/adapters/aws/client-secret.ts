/**
 * The OpenID Connect client secret from Secrets Manager (OIDC_CLIENT_SECRET_ARN): the secret string itself,
 * or JSON `{"clientSecret": "..."}` (`client_secret` accepted too). Read on the first sign-in callback and
 * kept for a few minutes per container, so a rotated secret is picked up without a redeploy. Never logged.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CarrelError } from '../../core/errors.js';
import { rethrowAwsError } from './clients/errors.js';

/** The client secret is missing, unreadable (permissions) or malformed: retrying will not help. */
export class ClientSecretError extends CarrelError {}

export function secretsManagerClientSecret(client: SecretsManagerClient, secretArn: string, options: { ttlMs?: number; now?: () => number } = {}): () => Promise<string> {
  const ttl = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { readonly value: Promise<string>; readonly at: number } | undefined;
  return () => {
    if (!cached || now() - cached.at > ttl) {
      const entry = { value: read(client, secretArn), at: now() };
      cached = entry;
      entry.value.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.value;
  };
}

async function read(client: SecretsManagerClient, secretArn: string): Promise<string> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (error) {
    try {
      rethrowAwsError(error, 'Reading the OpenID Connect client secret');
    } catch (mapped) {
      if (mapped !== error) throw mapped;
      const name = error instanceof Error ? error.name : 'error';
      throw new ClientSecretError(`The OpenID Connect client secret (OIDC_CLIENT_SECRET_ARN) cannot be read: ${name}`, { cause: error });
    }
  }
  const value = text?.trim() ?? '';
  if (value.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new ClientSecretError('The OpenID Connect client secret is neither plain text nor JSON {"clientSecret": "..."}');
    }
    const secret = (parsed as { clientSecret?: unknown; client_secret?: unknown }).clientSecret ?? (parsed as { client_secret?: unknown }).client_secret;
    if (typeof secret !== 'string' || !secret) throw new ClientSecretError('The OpenID Connect client secret JSON has no "clientSecret"');
    return secret;
  }
  if (!value) throw new ClientSecretError('The OpenID Connect client secret is empty');
  return value;
}
