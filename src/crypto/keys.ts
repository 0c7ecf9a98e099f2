// Secret generation, hashing and display forms of API keys. Secrets are shown once; only their
// SHA-256 and a redacted form are ever stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes of the key kinds keyplane issues itself. */
export const KEY_PREFIX = {
  admin: 'sk-admin-',
  project: 'sk-proj-',
  serviceAccount: 'sk-svcacct-',
  user: 'sk-',
} as const;

/** Random bytes behind every generated secret: 36 bytes = 288 bits, 48 base64url characters. */
export const SECRET_BYTES = 36;

export function generateSecret(prefix: string): string {
  return prefix + randomBytes(SECRET_BYTES).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** `sk-admin-AbC…xyz9` → `sk-admin...xyz9`: the kind prefix and the last four characters. */
export function redactSecret(secret: string): string {
  const m = /^(sk-(?:admin-|proj-|svcacct-)?)/.exec(secret);
  const head = m ? m[1]!.replace(/-$/, '') : secret.slice(0, 3);
  return `${head}...${secret.slice(-4)}`;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Estimated entropy of a secret in bits: its length times the Shannon entropy of its characters.
 * Used to refuse weak operator-supplied keys (`sk-admin-aaaa…`, `sk-admin-password123…`).
 */
export function estimateEntropyBits(s: string): number {
  if (!s.length) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h * s.length;
}

/** Minimum body length and estimated entropy of an operator-supplied admin key. */
export const MIN_SUPPLIED_KEY_CHARS = 32;
export const MIN_SUPPLIED_KEY_BITS = 128;

/** Returns why `key` is not acceptable as a supplied admin key, or null when it is. */
export function checkSuppliedAdminKey(key: string): string | null {
  if (!key.startsWith(KEY_PREFIX.admin)) return `must start with "${KEY_PREFIX.admin}"`;
  const body = key.slice(KEY_PREFIX.admin.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return 'may only use the characters A-Z a-z 0-9 _ - after the prefix';
  if (body.length < MIN_SUPPLIED_KEY_CHARS) return `needs at least ${MIN_SUPPLIED_KEY_CHARS} characters after the prefix`;
  if (estimateEntropyBits(body) < MIN_SUPPLIED_KEY_BITS) {
    return `carries too little entropy (needs about ${MIN_SUPPLIED_KEY_BITS} bits; use 32+ random base64url characters)`;
  }
  return null;
}
