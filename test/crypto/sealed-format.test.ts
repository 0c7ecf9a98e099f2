// Sealed values carry a format version: version 1 is written (`$` + base64(0x01 | iv | tag | ct), the
// version byte bound in the associated data); version 0 (plain base64, written before) still opens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, open, seal, SEALED_VERSION, SealedValueError, sealedVersion, unwrapDataKey, VERSIONED_MARKER, wrapDataKey } from '../../src/crypto/envelope.ts';
import { sealV0, withVersionByte } from '../helpers/legacy-seal.ts';

test('new values are version 1: the marker, then base64 of the version byte, iv, tag and ciphertext', () => {
  const key = generateKey();
  const sealed = seal(key, Buffer.from('hello'), 'ctx');
  assert.equal(SEALED_VERSION, 1);
  assert.equal(sealed[0], VERSIONED_MARKER);
  const body = Buffer.from(sealed.slice(1), 'base64');
  assert.equal(body[0], 1);
  assert.equal(body.length, 1 + 12 + 16 + 5);
  assert.equal(sealedVersion(sealed), 1);
  assert.equal(open(key, sealed, 'ctx').toString(), 'hello');
});

test('version-0 values (no version byte) still open with their old associated data, and are never mistaken for versioned ones', () => {
  const key = generateKey();
  for (let i = 0; i < 2000; i++) {
    const old = sealV0(key, `v${i}`, 'org-1:openai');
    assert.notEqual(old[0], VERSIONED_MARKER);
    assert.equal(sealedVersion(old), 0);
    if (i < 50) assert.equal(open(key, old, 'org-1:openai').toString(), `v${i}`);
  }
  const old = sealV0(key, 'x', 'org-1:openai');
  assert.throws(() => open(key, old, 'org-2:openai'), SealedValueError);
  assert.throws(() => open(generateKey(), old, 'org-1:openai'), SealedValueError);
  // data keys wrapped the old way unwrap too
  const master = generateKey();
  const dk = generateKey();
  assert.deepEqual(unwrapDataKey(master, sealV0(master, dk, 'data-key:org-a'), 'org-a'), dk);
  assert.equal(sealedVersion(wrapDataKey(master, dk, 'org-a')), 1);
});

test('a tampered version byte, a downgrade or a malformed value fails with a clear error', () => {
  const key = generateKey();
  const sealed = seal(key, Buffer.from('secret'), 'ctx');
  for (const v of [2, 0x7f, 0xff]) {
    assert.throws(() => open(key, withVersionByte(sealed, v), 'ctx'), (e: unknown) => e instanceof SealedValueError && new RegExp(`format version ${v};`).test(e.message));
  }
  assert.throws(() => open(key, withVersionByte(sealed, 0), 'ctx'), (e: unknown) => e instanceof SealedValueError && /version 0/.test(e.message));
  // stripping the marker and the version byte leaves a well-formed version-0 layout, which must not open:
  // the version byte is part of the associated data of a version-1 value
  const downgraded = Buffer.from(sealed.slice(1), 'base64').subarray(1).toString('base64');
  assert.equal(sealedVersion(downgraded), 0);
  assert.throws(() => open(key, downgraded, 'ctx'), (e: unknown) => e instanceof SealedValueError && /does not open/.test(e.message));
  // the ciphertext and the context are still bound
  const body = Buffer.from(sealed.slice(1), 'base64');
  body[body.length - 1]! ^= 1;
  assert.throws(() => open(key, VERSIONED_MARKER + body.toString('base64'), 'ctx'), SealedValueError);
  assert.throws(() => open(key, sealed, 'other'), (e: unknown) => e instanceof SealedValueError && /does not open/.test(e.message));
  for (const bad of [VERSIONED_MARKER, `${VERSIONED_MARKER}not base64!`, `${VERSIONED_MARKER}AQ`]) {
    assert.throws(() => open(key, bad, 'ctx'), SealedValueError, bad);
  }
  assert.throws(() => open(key, 'AAAA', 'ctx'), (e: unknown) => e instanceof SealedValueError && /truncated/.test(e.message));
});
