/** The client secret of the sign-in from Secrets Manager (OIDC_CLIENT_SECRET_ARN), read on the first code exchange. */
import { secretsManagerClient } from '../../adapters/aws/clients/secrets-manager.js';
import { secretsManagerClientSecret } from '../../adapters/aws/client-secret.js';
import type { ClientSecretSource } from './oidc.js';

export function secretsManagerSecret(secrets: typeof secretsManagerClient = secretsManagerClient): ClientSecretSource {
  return (config) => {
    const arn = config.oidc.clientSecretArn;
    if (!arn) return undefined;
    let read: (() => Promise<string>) | undefined;
    // Secrets Manager is asked only when a callback first needs the secret (never at start).
    return () => (read ??= secretsManagerClientSecret(secrets(), arn))();
  };
}
