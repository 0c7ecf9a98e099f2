import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/domain/ids.ts';

test('ids carry their prefix and increase within and across milliseconds', () => {
  const now = Date.now();
  const ids = [newId('key_', now), newId('key_', now), newId('key_', now), newId('key_', now + 1)];
  for (const id of ids) assert.match(id, /^key_[0-9a-hjkmnp-tv-z]{26}$/);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});
