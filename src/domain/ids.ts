// Identifiers: a kind prefix and a time-ordered random part, so ids sort roughly by creation time
// and keyset pages ordered by (created_at, id) are stable.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

// Random bytes drawn from a pool refilled 4 KB at a time: one call into OpenSSL per ~250 ids (ids are
// made on the gateway's request path, one per usage event).
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

function randomPart(chars: number): string {
  if (poolAt + chars > pool.length) {
    pool = randomBytes(Math.max(POOL_SIZE, chars));
    poolAt = 0;
  }
  let out = '';
  for (let i = 0; i < chars; i++) out += ALPHABET[pool[poolAt + i]! & 31];
  pool.fill(0, poolAt, poolAt + chars); // used bytes do not linger
  poolAt += chars;
  return out;
}

export const ID_PREFIX = {
  org: 'org-',
  user: 'user-',
  invite: 'invite-',
  project: 'proj_',
  group: 'group_',
  role: 'role_',
  roleAssignment: 'ra_',
  serviceAccount: 'svc_acct_',
  key: 'key_',
  rateLimit: 'rl_',
  certificate: 'cert_',
  credential: 'cred_',
  usage: 'use_',
  audit: 'audit_log-',
  spendAlert: 'alert_',
} as const;

let lastTime = -1;
let lastRandom = '';

/** Increments a base32 string by one (the random part of a monotonic id). */
function increment(s: string): string {
  const chars = s.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const v = ALPHABET.indexOf(chars[i]!);
    if (v < 31) {
      chars[i] = ALPHABET[v + 1]!;
      return chars.join('');
    }
    chars[i] = ALPHABET[0]!;
  }
  return randomPart(s.length); // overflow of 80 bits within one millisecond: practically never
}

/**
 * A new id: prefix, 10 characters of time, 16 of randomness. Ids made by this process within one
 * millisecond increase, so events of one transaction keep their order.
 */
export function newId(prefix: string, now = Date.now()): string {
  if (now <= lastTime) {
    lastRandom = increment(lastRandom);
  } else {
    lastTime = now;
    lastRandom = randomPart(16);
  }
  return prefix + encodeTime(lastTime) + lastRandom;
}
