/** Expiry and DNS names of a PEM certificate (the first of a chain), from the certificate itself. */
import { X509Certificate } from 'node:crypto';

export interface CertificateFacts {
  readonly expiresAt: Date;
  /** subjectAltName DNS entries, lower case (e.g. `*.desk.example.org`). */
  readonly names: readonly string[];
}

/** Throws when `pem` holds no parsable certificate. */
export function certificateFacts(pem: string): CertificateFacts {
  const leaf = new X509Certificate(pem);
  const names = (leaf.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  return { expiresAt: new Date(leaf.validTo), names };
}
