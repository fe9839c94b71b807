import { describe, expect, it } from 'vitest';
import { storableJson, storableText } from '../../../src/dashboard/storage/database.js';

/** What PostgreSQL's jsonb refuses (NUL, lone surrogates) made storable without losing anything else. */
describe('storableJson', () => {
  it('replaces NUL and lone surrogates in values and keys with U+FFFD', () => {
    const stored = JSON.parse(storableJson({ 'a\u0000': 'x\u0000y', b: ['\ud800', 'ok'] }));
    expect(stored).toEqual({ 'a\uFFFD': 'x\uFFFDy', b: ['\uFFFD', 'ok'] });
  });

  it('keeps both values when two keys become the same key', () => {
    const stored = JSON.parse(storableJson({ 'k\u0000': 1, 'k\uFFFD': 2, 'k\ud800': 3 }));
    expect(Object.values(stored).sort()).toEqual([1, 2, 3]);
    // The key that needed no change keeps its name and value.
    expect(stored['k\uFFFD']).toBe(2);
    expect(Object.keys(stored).every((key) => storableText(key) === key)).toBe(true);
  });

  it('leaves JSON that needs nothing as JSON.stringify writes it', () => {
    const value = { actor: 'staff:x', details: { n: 1, list: [true, null] } };
    expect(storableJson(value)).toBe(JSON.stringify(value));
  });
});
