/** Local only: `GET /api/outbox`, the local mail addressed to the signed-in user (the UI shows it). */
import type { AppDeps, HttpHandler } from '../../lambdas/handlers/app.js';
import { header, json, parseCookies, readJsonBody, route, validate } from '../../lambdas/handlers/http.js';
import { emptyBody } from '../../lambdas/handlers/schemas.js';
import type { OutboxNotifier } from './outbox-notifier.js';

export function makeOutboxHandler(deps: Pick<AppDeps, 'identity' | 'log'>, outbox: Pick<OutboxNotifier, 'list'>): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await deps.identity.authenticate({ cookies: parseCookies(event), authorization: header(event, 'authorization') });
    validate(emptyBody, body, 'body');
    const messages = (await outbox.list()).filter((m) => m.to.includes(user.userId));
    return json(200, { messages });
  });
}
