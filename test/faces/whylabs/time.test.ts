// WhyLabs time format: ISO_LOCAL_DATE_TIME in UTC, no zone, trailing zeros of the fraction dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_WHYLABS_MS, whylabsTime, whylabsTimeOrNull } from '../../../src/faces/whylabs/time.ts';

test('milliseconds print with trailing zeros dropped, and not at all when zero', () => {
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 56, 789)), '2024-01-31T12:34:56.789');
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 56, 780)), '2024-01-31T12:34:56.78');
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 56, 700)), '2024-01-31T12:34:56.7');
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 56, 0)), '2024-01-31T12:34:56');
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 56, 5)), '2024-01-31T12:34:56.005');
  assert.equal(whylabsTime(Date.UTC(2024, 0, 31, 12, 34, 0, 0)), '2024-01-31T12:34:00', 'seconds are always printed');
});

test('UTC, whatever the local zone, and no zone suffix', () => {
  assert.equal(whylabsTime(0), '1970-01-01T00:00:00');
  assert.equal(whylabsTime(1_577_836_800_000), '2020-01-01T00:00:00'); // the spec's example input
  assert.doesNotMatch(whylabsTime(Date.now()), /Z|[+-]\d\d:\d\d$/);
  assert.equal(whylabsTime(1_577_836_800_000.9), '2020-01-01T00:00:00', 'fractions of a millisecond are dropped');
});

test('years beyond four digits print as Java prints them', () => {
  assert.equal(whylabsTime(MAX_WHYLABS_MS), '9999-12-31T23:59:59.999');
  assert.equal(whylabsTime(MAX_WHYLABS_MS + 1), '+10000-01-01T00:00:00');
  assert.equal(whylabsTime(-62_167_219_200_000), '0000-01-01T00:00:00');
  assert.equal(whylabsTime(-62_167_219_200_001), '-0001-12-31T23:59:59.999');
  assert.throws(() => whylabsTime(Number.NaN), RangeError);
  assert.throws(() => whylabsTime(9e15), RangeError);
});

test('null stays null', () => {
  assert.equal(whylabsTimeOrNull(null), null);
  assert.equal(whylabsTimeOrNull(undefined), null);
  assert.equal(whylabsTimeOrNull(0), '1970-01-01T00:00:00');
});
