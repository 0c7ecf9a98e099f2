// The spend period: the calendar month in UTC, its bounds as usage_daily's days name them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monthOf } from '../../src/domain/spend-limits.ts';

test('monthOf: the UTC calendar month, across a year end and a leap February', () => {
  const dec = monthOf(Date.UTC(2026, 11, 31, 23, 59, 59, 999));
  assert.deepEqual(dec, { period: '2026-12', firstDay: '2026-12-01', nextFirstDay: '2027-01-01', startsAt: Date.UTC(2026, 11, 1), endsAt: Date.UTC(2027, 0, 1) });
  assert.equal(monthOf(Date.UTC(2027, 0, 1)).period, '2027-01', 'the first millisecond of a month is in it');
  assert.equal(monthOf(Date.UTC(2026, 11, 15)).period, '2026-12', 'and back: the kept month is not reused outside its bounds');
  assert.equal(monthOf(Date.UTC(2028, 1, 29, 12)).nextFirstDay, '2028-03-01');
});
