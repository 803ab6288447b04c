/** Lambda entry point: POST /auth/logout. See docs/contracts.md. */
import { makeLogoutHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { withOidc } from '../aws-parts/oidc.js';

export const handler = awsHandler((deps) => makeLogoutHandler(withOidc(deps)));
