// Envelope encryption of provider credentials: a data key per organization encrypts values with
// AES-256-GCM (organization id and credential name as associated data); the master key wraps data keys.
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

export function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

/** Throws when the key, the associated data or the ciphertext is wrong: never returns garbage. */
export function open(key: Buffer, sealed: string, aad: string): Buffer {
  const buf = Buffer.from(sealed, 'base64');
  if (buf.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(buf.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

export function wrapDataKey(master: Buffer, dataKey: Buffer, orgId: string): string {
  return seal(master, dataKey, `data-key:${orgId}`);
}

export function unwrapDataKey(master: Buffer, wrapped: string, orgId: string): Buffer {
  return open(master, wrapped, `data-key:${orgId}`);
}
