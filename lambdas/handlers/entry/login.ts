/** Lambda entry point: GET /auth/login. See docs/contracts.md. */
import { makeLoginHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { withOidc } from '../aws-parts/oidc.js';

export const handler = awsHandler((deps) => makeLoginHandler(withOidc(deps)));
