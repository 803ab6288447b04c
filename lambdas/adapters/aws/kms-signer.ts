/**
 * JwsSigner over an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY): the desk signs gate cookies and
 * agent tokens without the private key ever leaving KMS. KMS returns DER-encoded ECDSA signatures;
 * JWS (ES256) wants the 64-byte r||s form, so the signature is converted here.
 */
import { createHash, createPublicKey } from 'node:crypto';
import {
  DependencyTimeoutException,
  DisabledException,
  GetPublicKeyCommand,
  InvalidKeyUsageException,
  KeyUnavailableException,
  KMSInternalException,
  KMSInvalidStateException,
  NotFoundException,
  SignCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { CarrelError, TransientError } from '../../core/errors.js';
import type { JwsSigner } from '../tokens.js';
import { isTransientAwsError } from './clients/errors.js';

/** Bytes of each of r and s for P-256. */
const COORDINATE_BYTES = 32;
/** KMS signs RAW messages up to this size; larger ones are hashed here and signed as a DIGEST. */
const MAX_RAW_MESSAGE_BYTES = 4096;

/** The signing key cannot be used (disabled, pending deletion, missing, wrong kind, or access denied): retrying will not help. */
export class SigningKeyError extends CarrelError {}

export class KmsSigner implements JwsSigner {
  /** The key's id (the `kid` of the tokens): the UUID of a key ARN, or what was given. */
  readonly keyId: string;
  private publicKey?: Promise<string>;

  /**
   * @param kms a KMS client (created once per container, see clients/kms.ts)
   * @param key the key id, key ARN, alias name or alias ARN that KMS calls use
   */
  constructor(
    private readonly kms: KMSClient,
    private readonly key: string,
  ) {
    this.keyId = key.match(/:key\/([^/]+)$/)?.[1] ?? key;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const raw = data.byteLength <= MAX_RAW_MESSAGE_BYTES;
    const message = raw ? data : createHash('sha256').update(data).digest();
    let signature: Uint8Array | undefined;
    try {
      const out = await this.kms.send(
        new SignCommand({ KeyId: this.key, Message: message, MessageType: raw ? 'RAW' : 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
      );
      signature = out.Signature;
    } catch (error) {
      throw mapKmsError(error, 'Signing with the desk key');
    }
    if (!signature?.byteLength) throw new SigningKeyError('KMS returned no signature');
    return derToJose(signature);
  }

  /** SPKI PEM of the verifying key: one GetPublicKey per signer (a failed read is retried on the next call). */
  publicKeyPem(): Promise<string> {
    this.publicKey ??= this.fetchPublicKey().catch((error: unknown) => {
      this.publicKey = undefined;
      throw error;
    });
    return this.publicKey;
  }

  private async fetchPublicKey(): Promise<string> {
    let out;
    try {
      out = await this.kms.send(new GetPublicKeyCommand({ KeyId: this.key }));
    } catch (error) {
      throw mapKmsError(error, 'Reading the desk public key');
    }
    if (!out.PublicKey?.byteLength) throw new SigningKeyError('KMS returned no public key');
    if (out.KeySpec && out.KeySpec !== 'ECC_NIST_P256') {
      throw new SigningKeyError(`The desk key must be an ECC_NIST_P256 key for ES256, not ${out.KeySpec}`);
    }
    if (out.KeyUsage && out.KeyUsage !== 'SIGN_VERIFY') throw new SigningKeyError(`The desk key must be a SIGN_VERIFY key, not ${out.KeyUsage}`);
    try {
      return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
    } catch (error) {
      throw new SigningKeyError('KMS returned a public key that is not DER SPKI', { cause: error });
    }
  }
}

/**
 * Convert a DER ECDSA signature (SEQUENCE { INTEGER r, INTEGER s }) into the fixed-size r||s form of
 * JWS. DER integers are minimal and signed: a leading 0x00 is dropped when the high bit of the next byte
 * is set, and short values are left-padded with zeros.
 */
export function derToJose(der: Uint8Array, size = COORDINATE_BYTES): Uint8Array {
  const bad = (why: string): never => {
    throw new SigningKeyError(`KMS returned a malformed ECDSA signature: ${why}`);
  };
  let offset = 0;
  const byte = () => (offset < der.length ? der[offset++]! : bad('truncated'));
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    const count = first & 0x7f;
    if (count === 0 || count > 2) bad('unsupported length encoding');
    let value = 0;
    for (let i = 0; i < count; i++) value = (value << 8) | byte();
    if (value < 0x80) bad('non-minimal length');
    return value;
  };
  const integer = (): Uint8Array => {
    if (byte() !== 0x02) bad('expected an INTEGER');
    const len = length();
    if (len === 0 || offset + len > der.length) bad('bad INTEGER length');
    let value = der.subarray(offset, offset + len);
    offset += len;
    if (value[0]! & 0x80) bad('negative INTEGER');
    if (value[0] === 0 && len > 1) {
      if (!(value[1]! & 0x80)) bad('non-minimal INTEGER');
      value = value.subarray(1);
    }
    if (value.length > size) bad(`INTEGER longer than ${size} bytes`);
    return value;
  };

  if (byte() !== 0x30) bad('expected a SEQUENCE');
  const seqLen = length();
  if (offset + seqLen !== der.length) bad('SEQUENCE length does not match');
  const r = integer();
  const s = integer();
  if (offset !== der.length) bad('trailing bytes');

  const out = new Uint8Array(size * 2);
  out.set(r, size - r.length);
  out.set(s, size * 2 - s.length);
  return out;
}

const TRANSIENT_KMS = [KMSInternalException, DependencyTimeoutException, KeyUnavailableException];

/** Transient failures become core's TransientError; a key that cannot be used becomes a SigningKeyError. */
function mapKmsError(error: unknown, what: string): Error {
  const detail = error instanceof Error ? error.message : String(error);
  if (TRANSIENT_KMS.some((type) => error instanceof type) || isTransientAwsError(error)) {
    return new TransientError(`${what} failed for now (KMS): ${detail}`, { cause: error });
  }
  if (error instanceof DisabledException) return new SigningKeyError(`${what} failed: the KMS key is disabled`, { cause: error });
  if (error instanceof KMSInvalidStateException) {
    return new SigningKeyError(`${what} failed: the KMS key is not usable in its current state (pending deletion or import?)`, { cause: error });
  }
  if (error instanceof NotFoundException) return new SigningKeyError(`${what} failed: the KMS key does not exist`, { cause: error });
  if (error instanceof InvalidKeyUsageException) {
    return new SigningKeyError(`${what} failed: the KMS key is not an ECC_NIST_P256 SIGN_VERIFY key`, { cause: error });
  }
  if (error instanceof Error && (error.name === 'AccessDeniedException' || error.name === 'AccessDenied')) {
    return new SigningKeyError(`${what} failed: this function may not use the KMS key (${detail})`, { cause: error });
  }
  return error instanceof Error ? error : new Error(detail);
}
