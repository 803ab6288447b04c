/**
 * The identity provider of the sign-in routes (login, callback, logout), one per container: discovery and
 * keys are cached in it. Only the callback exchanges codes, so only it is given the client secret
 * (oidc-client-secret.ts), and only its bundle carries the Secrets Manager client.
 */
import { OidcClient } from '../../adapters/oidc-client.js';
import type { AppDeps } from '../app.js';
import type { DeskConfig } from '../config.js';

/** Where the client secret comes from, for a configuration that names one. */
export type ClientSecretSource = (config: DeskConfig) => (() => Promise<string>) | undefined;

export function oidcClient(config: DeskConfig, clientSecret?: ClientSecretSource): OidcClient {
  const { issuer, clientId, scopes, rolesClaim } = config.oidc;
  return new OidcClient({ issuer, clientId, clientSecret: clientSecret?.(config), scopes, rolesClaim });
}

/** `deps` with the identity provider of this container (set once; reads nothing else from `deps`). */
export function withOidc<T extends AppDeps>(deps: T, clientSecret?: ClientSecretSource): T {
  return Object.assign(deps, { oidc: oidcClient(deps.config, clientSecret) });
}
