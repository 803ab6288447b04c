/**
 * The identity provider of the sign-in routes (login, callback, logout), one per container: discovery and
 * keys are cached in it. Only those entry points import this module, so only their bundles carry the
 * Secrets Manager client the client secret needs.
 */
import { secretsManagerClient } from '../../adapters/aws/clients/secrets-manager.js';
import { secretsManagerClientSecret } from '../../adapters/aws/client-secret.js';
import { OidcClient } from '../../adapters/oidc-client.js';
import type { AppDeps } from '../app.js';
import type { DeskConfig } from '../config.js';

export function oidcClient(config: DeskConfig, secrets: typeof secretsManagerClient = secretsManagerClient): OidcClient {
  const { issuer, clientId, clientSecretArn, scopes, rolesClaim } = config.oidc;
  let read: (() => Promise<string>) | undefined;
  return new OidcClient({
    issuer,
    clientId,
    // Secrets Manager is asked only when a callback first needs the secret (never at start).
    clientSecret: clientSecretArn ? () => (read ??= secretsManagerClientSecret(secrets(), clientSecretArn))() : undefined,
    scopes,
    rolesClaim,
  });
}

/** `deps` with the identity provider of this container (set once; reads nothing else from `deps`). */
export function withOidc<T extends AppDeps>(deps: T): T {
  return Object.assign(deps, { oidc: oidcClient(deps.config) });
}
