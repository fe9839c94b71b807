import { describe, expect, it } from 'vitest';
import {
  lineSplitter,
  ProgressParser,
  parseSegmentListLine,
} from '../../../../src/gateway/recorder/ffmpeg-output.js';

describe('reading ffmpeg output', () => {
  it('turns a -progress block into one report', () => {
    const parser = new ProgressParser();
    const lines = ['frame=35', 'total_size=N/A', 'out_time_us=4200098', 'speed=7.05x'];
    for (const line of lines) expect(parser.push(line)).toBeUndefined();
    expect(parser.push('progress=continue')).toEqual({
      outTimeUs: 4200098,
      frame: 35,
      totalSize: undefined,
      ended: false,
    });
    expect(parser.push('progress=end')?.ended).toBe(true);
  });

  it('parses a CSV segment list line, quoted or not', () => {
    expect(parseSegmentListLine('cam-1-000003.mp4,3.800000,4.800000')).toEqual({
      file: 'cam-1-000003.mp4',
      startSeconds: 3.8,
      endSeconds: 4.8,
    });
    expect(parseSegmentListLine('"a,b.mp4",0.000000,1.000000')?.file).toBe('a,b.mp4');
    expect(parseSegmentListLine('not a list line')).toBeUndefined();
  });

  it('splits a byte stream into lines across chunk borders', () => {
    const lines: string[] = [];
    const feed = lineSplitter((line) => lines.push(line));
    feed('a=1\nb=');
    feed('2\r\n\nc');
    feed('=3\n');
    expect(lines).toEqual(['a=1', 'b=2', 'c=3']);
  });
});
