import { describe, expect, it } from 'vitest';
import { redact, redactCommand, urlWithCredentials } from '../../../../src/gateway/recorder/redact.js';

describe('redacting camera credentials', () => {
  it('hides the user-info of every URL in a text', () => {
    expect(redact("Input #0, rtsp, from 'rtsp://admin:hunter2@10.0.0.5:554/stream1':")).toBe(
      "Input #0, rtsp, from 'rtsp://***@10.0.0.5:554/stream1':",
    );
    expect(redact('a rtsp://u:p@h/x and rtsps://v@h2/y')).toBe('a rtsp://***@h/x and rtsps://***@h2/y');
  });

  it('hides a listed secret in plain and percent-encoded form', () => {
    expect(redact('401 for pa:ss/w@rd and pa%3Ass%2Fw%40rd', ['pa:ss/w@rd'])).toBe('401 for *** and ***');
  });

  it('leaves URLs without credentials alone', () => {
    expect(redact('rtsp://10.0.0.5:554/stream1')).toBe('rtsp://10.0.0.5:554/stream1');
  });

  it('redacts a logged command line and quotes what needs quoting', () => {
    const url = urlWithCredentials('rtsp://10.0.0.5/s', 'admin', 's3cr3t pass');
    const line = redactCommand(
      '/usr/bin/ffmpeg',
      ['-i', url, '-f', 'segment', 'out dir/%06d.mp4'],
      ['s3cr3t pass'],
    );
    expect(line).toBe("/usr/bin/ffmpeg -i 'rtsp://***@10.0.0.5/s' -f segment 'out dir/%06d.mp4'");
    expect(line).not.toContain('s3cr3t');
    expect(line).not.toContain('admin');
  });

  it('puts percent-encoded credentials into a URL only when a user name is given', () => {
    expect(urlWithCredentials('rtsp://10.0.0.5:554/s', 'ad min', 'p:w@/')).toBe(
      'rtsp://ad%20min:p%3Aw%40%2F@10.0.0.5:554/s',
    );
    expect(urlWithCredentials('rtsp://10.0.0.5:554/s')).toBe('rtsp://10.0.0.5:554/s');
  });
});
