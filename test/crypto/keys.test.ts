import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { checkSuppliedAdminKey, estimateEntropyBits, generateSecret, hashSecret, KEY_PREFIX, redactSecret, SECRET_BYTES } from '../../src/crypto/keys.ts';

test('secrets carry their kind prefix and at least 192 bits of randomness', () => {
  assert.ok(SECRET_BYTES * 8 >= 192);
  for (const prefix of Object.values(KEY_PREFIX)) {
    const s = generateSecret(prefix);
    assert.ok(s.startsWith(prefix));
    const body = s.slice(prefix.length);
    assert.match(body, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(body, 'base64url').length, SECRET_BYTES);
  }
});

test('10,000 secrets are all distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(generateSecret('sk-'));
  assert.equal(seen.size, 10_000);
});

test('hash is the SHA-256 hex of the whole secret', () => {
  const s = generateSecret(KEY_PREFIX.admin);
  assert.equal(hashSecret(s), createHash('sha256').update(s).digest('hex'));
  assert.notEqual(hashSecret(s), hashSecret(s + 'x'));
});

test('redacted form keeps the kind and the last four characters only', () => {
  assert.equal(redactSecret('sk-admin-abcdefghijklmnopWXYZ'), 'sk-admin...WXYZ');
  assert.equal(redactSecret('sk-proj-abcdefghijklmnop1234'), 'sk-proj...1234');
  assert.equal(redactSecret('sk-svcacct-abcdefgh5678'), 'sk-svcacct...5678');
  assert.equal(redactSecret('sk-abcdefghij9876'), 'sk...9876');
  const s = generateSecret(KEY_PREFIX.admin);
  assert.ok(!redactSecret(s).includes(s.slice(9, 20)));
});

test('operator-supplied admin keys need the prefix, length and entropy', () => {
  assert.equal(checkSuppliedAdminKey(generateSecret(KEY_PREFIX.admin)), null);
  assert.match(checkSuppliedAdminKey('sk-proj-' + 'a'.repeat(48))!, /must start with/);
  assert.match(checkSuppliedAdminKey('sk-admin-short')!, /at least 32/);
  assert.match(checkSuppliedAdminKey('sk-admin-' + 'a'.repeat(60))!, /entropy/);
  assert.match(checkSuppliedAdminKey('sk-admin-' + 'abab'.repeat(12))!, /entropy/);
  assert.match(checkSuppliedAdminKey('sk-admin-' + 'hello world '.repeat(4))!, /characters/);
  assert.ok(estimateEntropyBits('aaaa') === 0);
});
