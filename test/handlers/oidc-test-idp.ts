/**
 * An OpenID Connect provider for handler tests, over real HTTP on 127.0.0.1 and signing with jose: discovery,
 * token endpoint (PKCE checked, client authentication recorded), JWKS and end-session. Knobs make it
 * misbehave the ways a real provider can (5xx, slow answers, a wrong audience, nonce or expiry, another key).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

export interface TokenRequest {
  readonly form: URLSearchParams;
  readonly authorization?: string;
}

export interface Knobs {
  /** Discovery answers this status (with a JSON error body) instead of the document. */
  discoveryStatus?: number;
  /** Changes to the discovery document (undefined values remove a field). */
  discovery?: Record<string, unknown>;
  /** The token endpoint answers this status and body instead of tokens. */
  tokenFailure?: { status: number; body: unknown };
  /** The token endpoint waits this long before answering. */
  tokenDelayMs?: number;
  /** Claims of the next ID tokens (undefined values remove a claim). */
  claims?: JWTPayload;
  /** Sign ID tokens with a key the JWKS does not publish. */
  foreignKey?: boolean;
}

interface Grant {
  readonly sub: string;
  readonly nonce: string;
  readonly challenge: string;
  readonly redirectUri: string;
  readonly clientId: string;
}

export class HttpTestIdp {
  readonly knobs: Knobs = {};
  readonly tokenRequests: TokenRequest[] = [];
  discoveryRequests = 0;
  private readonly grants = new Map<string, Grant>();
  private keyPair!: CryptoKeyPair;
  private foreign!: CryptoKeyPair;
  private jwk!: object;
  private server!: Server;
  issuer = '';

  /** `now` dates the ID tokens (the handlers run on a fake clock). */
  constructor(private readonly now: () => Date) {}

  static async start(now: () => Date): Promise<HttpTestIdp> {
    const idp = new HttpTestIdp(now);
    idp.keyPair = await generateKeyPair('ES256', { extractable: true });
    idp.foreign = await generateKeyPair('ES256', { extractable: true });
    idp.jwk = { ...(await exportJWK(idp.keyPair.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
    idp.server = createServer((req, res) => {
      void idp.handle(req).then(
        ({ status, body, delay }) => {
          const send = () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
          if (delay) setTimeout(send, delay).unref();
          else send();
        },
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((ok) => idp.server.listen(0, '127.0.0.1', ok));
    idp.issuer = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}/realms/test`;
    return idp;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }

  /**
   * What the provider's authorize endpoint and sign-in page would do for `authorizationUrl`: sign `sub` in
   * and answer the query the browser brings back to the callback.
   */
  approve(authorizationUrl: string, sub = 'alice'): Record<string, string> {
    const url = new URL(authorizationUrl);
    const p = (name: string) => url.searchParams.get(name) ?? '';
    const code = randomBytes(16).toString('base64url');
    this.grants.set(code, { sub, nonce: p('nonce'), challenge: p('code_challenge'), redirectUri: p('redirect_uri'), clientId: p('client_id') });
    return { code, state: p('state') };
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown; delay?: number }> {
    const path = new URL(req.url ?? '/', this.issuer).pathname;
    if (path === '/realms/test/.well-known/openid-configuration') {
      this.discoveryRequests++;
      if (this.knobs.discoveryStatus) return { status: this.knobs.discoveryStatus, body: { error: 'unavailable' } };
      const doc: Record<string, unknown> = {
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/authorize`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        end_session_endpoint: `${this.issuer}/logout`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        ...this.knobs.discovery,
      };
      for (const [key, value] of Object.entries(doc)) if (value === undefined) delete doc[key];
      return { status: 200, body: doc };
    }
    if (path === '/realms/test/jwks') return { status: 200, body: { keys: [this.jwk] } };
    if (path === '/realms/test/token' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      this.tokenRequests.push({ form, authorization: req.headers.authorization });
      const delay = this.knobs.tokenDelayMs;
      if (this.knobs.tokenFailure) return { ...this.knobs.tokenFailure, delay };
      const grant = this.grants.get(form.get('code') ?? '');
      this.grants.delete(form.get('code') ?? '');
      const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'bad code, redirect_uri or code_verifier' }, delay };
      }
      return { status: 200, body: { access_token: 'opaque', token_type: 'Bearer', id_token: await this.idToken(grant) }, delay };
    }
    return { status: 404, body: { error: 'not_found' } };
  }

  private async idToken(grant: Grant): Promise<string> {
    const iat = Math.floor(this.now().getTime() / 1000);
    const payload: JWTPayload = { iss: this.issuer, aud: grant.clientId, sub: grant.sub, iat, exp: iat + 300, nonce: grant.nonce, name: 'Alice A.', groups: ['researcher'], ...this.knobs.claims };
    for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
    const key = this.knobs.foreignKey ? this.foreign.privateKey : this.keyPair.privateKey;
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'test-key', typ: 'JWT' }).sign(key);
  }
}
