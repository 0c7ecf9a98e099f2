// Envelope encryption of provider credentials: a data key per organization encrypts values with
// AES-256-GCM (organization id, credential kind and name as associated data); the master key wraps
// data keys. Sealed values carry a format version; see README.md beside this file for the layouts.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** Parses a 256-bit key given as 64 hex characters or as base64/base64url of 32 bytes. */
export function parseKey(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return b.length === KEY_BYTES ? b : null;
  }
  return null;
}

export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Short public fingerprint of a key: tells which master key wrapped a data key without revealing it. */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('keyplane-master-key-id').update(key).digest('hex').slice(0, 16);
}

/**
 * Text form of a sealed value, by format version:
 * - version 0 (written before format versions existed): base64(iv | tag | ciphertext), the associated
 *   data being the caller's context string as is.
 * - version 1: `$` + base64(0x01 | iv | tag | ciphertext), the associated data being the version byte
 *   followed by the caller's context string (so a value cannot be reread as another version).
 * Version 0 is plain base64 (A-Z a-z 0-9 + / =), whose first character can never be `$`: the marker
 * tells the two apart without ambiguity, although the first byte of a version-0 value (its IV) can be
 * anything. Only version 1 is written; both are read.
 */
export const SEALED_VERSION = 1;
/** First character of every versioned (version >= 1) sealed value; never a base64 character. */
export const VERSIONED_MARKER = '$';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A sealed value that cannot be opened: malformed, of an unknown format version, or failing authentication. */
export class SealedValueError extends Error {
  override name = 'SealedValueError';
}

/** The format version of a sealed value: 0 for the unmarked legacy layout, else its version byte (never 0). */
export function sealedVersion(sealed: string): number {
  if (!sealed.startsWith(VERSIONED_MARKER)) return 0;
  const text = sealed.slice(VERSIONED_MARKER.length);
  if (!text.length || !BASE64.test(text)) throw new SealedValueError('sealed value is malformed (not base64 after the version marker)');
  const version = Buffer.from(text.slice(0, 4), 'base64')[0];
  if (!version) throw new SealedValueError('sealed value is malformed (format version 0 behind the version marker)');
  return version;
}

function versionedAad(version: number, aad: string): Buffer {
  return Buffer.concat([Buffer.of(version), Buffer.from(aad, 'utf8')]);
}

/** Seals `plaintext` in the current format (version 1), bound to the context `aad`. */
export function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const version = Buffer.of(SEALED_VERSION);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(versionedAad(SEALED_VERSION, aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return VERSIONED_MARKER + Buffer.concat([version, iv, cipher.getAuthTag(), ct]).toString('base64');
}

function decrypt(key: Buffer, body: Buffer, aad: Buffer): Buffer {
  if (body.length < IV_BYTES + TAG_BYTES) throw new SealedValueError('sealed value is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(body.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealedValueError('sealed value does not open: wrong key, wrong context, or altered value');
  }
}

/**
 * Opens a sealed value of any known format version (0 or 1). Throws a SealedValueError when the key,
 * the associated data, the version or the ciphertext is wrong: never returns garbage.
 */
export function open(key: Buffer, sealed: string, aad: string): Buffer {
  const version = sealedVersion(sealed);
  if (version === 0) return decrypt(key, Buffer.from(sealed, 'base64'), Buffer.from(aad, 'utf8'));
  if (version !== SEALED_VERSION) throw new SealedValueError(`sealed value has format version ${version}; this keyplane reads versions 0 to ${SEALED_VERSION}`);
  const buf = Buffer.from(sealed.slice(VERSIONED_MARKER.length), 'base64');
  return decrypt(key, buf.subarray(1), versionedAad(version, aad));
}

export function wrapDataKey(master: Buffer, dataKey: Buffer, orgId: string): string {
  return seal(master, dataKey, `data-key:${orgId}`);
}

export function unwrapDataKey(master: Buffer, wrapped: string, orgId: string): Buffer {
  return open(master, wrapped, `data-key:${orgId}`);
}
