import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, keyFingerprint, open, parseKey, seal, unwrapDataKey, wrapDataKey } from '../../src/crypto/envelope.ts';

test('seal/open round-trips and binds the associated data', () => {
  const key = generateKey();
  const sealed = seal(key, Buffer.from('{"key":"sk-secret"}'), 'org-1:openai');
  assert.ok(!Buffer.from(sealed, 'base64').includes(Buffer.from('sk-secret')));
  assert.equal(open(key, sealed, 'org-1:openai').toString(), '{"key":"sk-secret"}');
  assert.throws(() => open(key, sealed, 'org-2:openai'));
  assert.throws(() => open(generateKey(), sealed, 'org-1:openai'));
  const tampered = Buffer.from(sealed, 'base64');
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => open(key, tampered.toString('base64'), 'org-1:openai'));
  assert.notEqual(seal(key, Buffer.from('x'), 'a'), seal(key, Buffer.from('x'), 'a'), 'fresh IV every time');
});

test('data keys are wrapped per organization', () => {
  const master = generateKey();
  const dk = generateKey();
  const wrapped = wrapDataKey(master, dk, 'org-a');
  assert.deepEqual(unwrapDataKey(master, wrapped, 'org-a'), dk);
  assert.throws(() => unwrapDataKey(master, wrapped, 'org-b'));
});

test('master keys parse from hex or base64 and nothing else', () => {
  const k = generateKey();
  assert.deepEqual(parseKey(k.toString('hex')), k);
  assert.deepEqual(parseKey(k.toString('base64')), k);
  assert.deepEqual(parseKey(k.toString('base64url')), k);
  assert.equal(parseKey('short'), null);
  assert.equal(parseKey('z'.repeat(64)), null);
  assert.equal(keyFingerprint(k).length, 16);
  assert.notEqual(keyFingerprint(k), keyFingerprint(generateKey()));
});
