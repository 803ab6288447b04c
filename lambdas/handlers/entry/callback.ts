/** Lambda entry point: GET /auth/callback. See docs/contracts.md. */
import { makeCallbackHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { withOidc } from '../aws-parts/oidc.js';
import { secretsManagerSecret } from '../aws-parts/oidc-client-secret.js';

export const handler = awsHandler((deps) => makeCallbackHandler(withOidc(deps, secretsManagerSecret())));
