import { describe, expect, it } from 'vitest';
import { TIMESCALE_MINIMUM, versionAtLeast } from '../../../src/dashboard/storage/migrator.js';

describe('the TimescaleDB version the migrations need', () => {
  it.each([
    ['2.13.0', true],
    ['2.13', true],
    ['2.17.2', true],
    ['2.13.0-dev', true],
    ['3.0.0', true],
    ['2.12.2', false],
    ['2.9.3', false],
    ['1.7.5', false],
    ['', false],
    ['unknown', false],
  ])('%s is enough: %s', (version, enough) => {
    expect(versionAtLeast(version, TIMESCALE_MINIMUM)).toBe(enough);
  });

  it('compares numbers, not text', () => {
    expect(versionAtLeast('2.100.0', '2.13')).toBe(true);
    expect(versionAtLeast('10.0', '9.9.9')).toBe(true);
  });
});
