import { describe, expect, it } from 'vitest';
import { JOB_LOCKS } from '../../../src/dashboard/storage/database.js';

describe('job locks', () => {
  it('gives every job a key of its own, so that no job keeps another from running', () => {
    const keys = Object.values(JOB_LOCKS);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
