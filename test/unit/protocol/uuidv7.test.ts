import { describe, expect, it } from 'vitest';
import { UUIDV7_PATTERN, Uuidv7Generator, uuidv7Time } from '../../../src/protocol/uuidv7.js';

describe('UUIDv7', () => {
  it('has the version 7 and RFC 9562 variant bits', () => {
    const id = new Uuidv7Generator().next();
    expect(id).toMatch(new RegExp(UUIDV7_PATTERN));
  });

  it('encodes the creation time', () => {
    const at = Date.UTC(2026, 10, 26, 12, 0, 0, 123);
    expect(uuidv7Time(new Uuidv7Generator(() => at).next())).toBe(at);
  });

  it('sorts in creation order within one millisecond and when the clock steps back', () => {
    let now = 1_800_000_000_000;
    const generator = new Uuidv7Generator(() => now);
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) {
      if (i === 2500) now -= 10;
      ids.push(generator.next());
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
