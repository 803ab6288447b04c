import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A random lowercase DNS-safe string from a CSPRNG (rejection sampling keeps it unbiased). */
export function randomLabel(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 252 && out.length < length) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

/** `ws-<16 random chars>`: about 82 bits, so hostnames cannot be guessed. */
export function newHostLabel(): string {
  return `ws-${randomLabel(16)}`;
}

export function newWorkspaceId(): string {
  return randomLabel(20);
}
