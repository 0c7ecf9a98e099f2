// h2oGPTe `expires_in` intervals: the accepted Postgres-style grammar and what is refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_INTERVAL_MS, parseInterval } from '../../../src/faces/h2ogpte/interval.ts';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

describe('h2oGPTe interval strings', () => {
  test('single "<n> <unit>" parts, singular, plural and abbreviated', () => {
    const cases: Array<[string, number]> = [
      ['30 days', 30 * D],
      ['1 day', D],
      ['12 hours', 12 * H],
      ['1 hour', H],
      ['90 minutes', 90 * MIN],
      ['45 seconds', 45 * S],
      ['2 weeks', 14 * D],
      ['1 month', 30 * D],
      ['6 months', 180 * D],
      ['1 year', 365.25 * D],
      ['3 years', 3 * 365.25 * D],
      ['5 min', 5 * MIN],
      ['5 mins', 5 * MIN],
      ['5 m', 5 * MIN],
      ['3 hrs', 3 * H],
      ['3 hr', 3 * H],
      ['3 h', 3 * H],
      ['7 d', 7 * D],
      ['10 secs', 10 * S],
      ['10 s', 10 * S],
      ['2 mons', 60 * D],
      ['2 yrs', 2 * 365.25 * D],
      ['1 w', 7 * D],
      ['30days', 30 * D],
      ['  30   DAYS  ', 30 * D],
      ['1 Year', 365.25 * D],
    ];
    for (const [text, ms] of cases) assert.equal(parseInterval(text), ms, text);
  });

  test('several parts, a clock part, and both together', () => {
    assert.equal(parseInterval('1 year 2 months'), 365.25 * D + 60 * D);
    assert.equal(parseInterval('1 week 2 days 3 hours'), 9 * D + 3 * H);
    assert.equal(parseInterval('1 day, 12 hours'), D + 12 * H);
    assert.equal(parseInterval('12:00:00'), 12 * H);
    assert.equal(parseInterval('01:30'), 90 * MIN);
    assert.equal(parseInterval('00:00:30'), 30 * S);
    assert.equal(parseInterval('100:00:00'), 100 * H);
    assert.equal(parseInterval('1 day 06:30:15'), D + 6 * H + 30 * MIN + 15 * S);
  });

  test('anything else is refused', () => {
    const bad: unknown[] = [
      '', '   ', '3 fortnights', '-1 days', '+1 days', '0 days', '00:00:00', '1.5 days', '1,5 days', 'days', '30',
      '1 day ago', 'P1D', 'PT12H', '1 day 2 days', '1 h 1 hour', '12:00 13:00', '12:60:00', '12:00:60', '1:2:3',
      '30 days,', ', 30 days', '30 days;drop table', '1e3 days', '0x10 days', '١ day', 'infinity', 'now', 'null',
      '1 day\u0000', '1 millisecond', '99999999999 days', 123, 30, null, undefined, {}, ['30 days'], true,
      '1 day '.repeat(30),
    ];
    for (const v of bad) assert.equal(parseInterval(v), null, JSON.stringify(v));
  });

  test('at most ten years', () => {
    assert.equal(parseInterval('10 years'), MAX_INTERVAL_MS);
    assert.equal(parseInterval('520 weeks'), 520 * 7 * D);
    assert.equal(parseInterval('10 years 1 day'), null);
    assert.equal(parseInterval('11 years'), null);
    assert.equal(parseInterval('3652 days 12 hours'), MAX_INTERVAL_MS);
    assert.equal(parseInterval('3652 days 13 hours'), null);
    assert.equal(parseInterval('3653 days'), null);
    assert.equal(parseInterval('999999:00:00'), null);
  });
});
