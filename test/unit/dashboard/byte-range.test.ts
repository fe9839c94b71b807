import { describe, expect, it } from 'vitest';
import { parseByteRange } from '../../../src/dashboard/http/byte-range.js';

describe('HTTP byte ranges', () => {
  it('sends the whole body without a Range header, or with one it does not serve', () => {
    expect(parseByteRange(undefined, 100)).toEqual({ kind: 'whole' });
    expect(parseByteRange('items=0-5', 100)).toEqual({ kind: 'whole' });
    expect(parseByteRange('bytes=0-5,10-20', 100)).toEqual({ kind: 'whole' });
    expect(parseByteRange('bytes=-', 100)).toEqual({ kind: 'whole' });
  });

  it('serves a closed, an open and a suffix range', () => {
    expect(parseByteRange('bytes=10-19', 100)).toEqual({ kind: 'partial', start: 10, end: 19 });
    expect(parseByteRange('bytes=90-', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseByteRange('bytes=-30', 100)).toEqual({ kind: 'partial', start: 70, end: 99 });
    expect(parseByteRange('bytes=-300', 100)).toEqual({ kind: 'partial', start: 0, end: 99 });
  });

  it('clips a range that runs past the end', () => {
    expect(parseByteRange('bytes=50-500', 100)).toEqual({ kind: 'partial', start: 50, end: 99 });
  });

  it('calls a range that starts past the end, or runs backwards, unsatisfiable', () => {
    expect(parseByteRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseByteRange('bytes=20-10', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseByteRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
  });
});
