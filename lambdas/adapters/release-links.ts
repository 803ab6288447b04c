/**
 * Release links: `<desk>/api/runs/<analysisId>.<runId>/download?token=<jwt>`, the token a desk-signed ES256
 * JWT (`aud: carrel-download`, `sub: <analysisId>.<runId>`, `exp`). Signed with the desk's key (KMS on AWS,
 * a local key otherwise) and verified with its public key only: nothing here can mint a link but the signer.
 */
import { importSPKI, jwtVerify, errors as joseErrors } from 'jose';
import { NotAllowedError } from '../core/errors.js';
import { parseRunRef, runRef } from '../core/runs/api.js';
import type { ReleaseLinks } from '../core/runs/ports.js';
import type { RunKey } from '../core/runs/run.js';
import { signJwt, TOKEN_ISSUER, type JwsSigner } from './tokens.js';

export const DOWNLOAD_AUDIENCE = 'carrel-download';

export class DeskReleaseLinks implements ReleaseLinks {
  private key?: Promise<CryptoKey>;

  constructor(
    private readonly signer: JwsSigner,
    /** The desk's origin, e.g. `https://desk.example.org`. */
    private readonly deskOrigin: string,
  ) {}

  async link(key: RunKey, expiresAt: Date, now = new Date()): Promise<string> {
    // exp is the release's end, to the second, whenever the link is made (the email's and the page's agree).
    const ttl = Math.max(1, Math.floor(expiresAt.getTime() / 1000) - Math.floor(now.getTime() / 1000));
    const token = await signJwt(this.signer, { aud: DOWNLOAD_AUDIENCE, sub: runRef(key) }, ttl, now);
    return `${this.deskOrigin}/api/runs/${encodeURIComponent(runRef(key))}/download?token=${token}`;
  }

  async verify(token: string, now: Date): Promise<RunKey> {
    this.key ??= this.signer.publicKeyPem().then((pem) => importSPKI(pem, 'ES256') as Promise<CryptoKey>);
    try {
      const { payload } = await jwtVerify(token, await this.key, { issuer: TOKEN_ISSUER, audience: DOWNLOAD_AUDIENCE, algorithms: ['ES256'], currentDate: now });
      if (typeof payload.sub !== 'string') throw new NotAllowedError('This download link names no run');
      return parseRunRef(payload.sub);
    } catch (error) {
      if (error instanceof NotAllowedError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new NotAllowedError('This download link has expired; the runs page shows the current one while the release lasts', { cause: error });
      throw new NotAllowedError('This download link is not valid', { cause: error });
    }
  }
}
