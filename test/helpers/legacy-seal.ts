// The sealed-value layout keyplane wrote before sealed values carried a format version ("version 0"):
// base64(iv | tag | ciphertext), AES-256-GCM, the associated data being the context string as is.
// Reproduced here, not in src/, so that tests can build values "written the old way".
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';

export function sealV0(key: Buffer, plaintext: Buffer | string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

/** The key stored idempotent answers are sealed under, as IdempotencyService derives it. */
export function idempotencyKey(masterKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'keyplane idempotency records', 32));
}

/** `sealed` with its format-version byte (the first byte after the `$` marker) set to `version`. */
export function withVersionByte(sealed: string, version: number): string {
  const buf = Buffer.from(sealed.slice(1), 'base64');
  buf[0] = version;
  return sealed[0] + buf.toString('base64');
}
