import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { followUpVideoHousekeeping } from '../../../src/gateway/video-housekeeping-alarms.js';
import type { Envelope } from '../../../src/protocol/envelope.js';
import { type EventBody, eventDataSchemas } from '../../../src/protocol/event-kinds.js';

/** The recorder's housekeeping events, as the gateway records them, become alarms. */
let sequence = 0;
function recorded(kind: string, data: Record<string, unknown>): Envelope {
  const schema = Compile(eventDataSchemas[kind as keyof typeof eventDataSchemas]);
  expect(schema.Check(data)).toBe(true);
  sequence += 1;
  return { kind, data, id: `0190-${sequence}`, time: new Date().toISOString() } as unknown as Envelope;
}

function book() {
  const raised: EventBody[] = [];
  const alarms = new AlarmBook((event) => raised.push(event));
  const valid = Compile(eventDataSchemas['alarm.raised']);
  const follow = (kind: string, data: Record<string, unknown>) =>
    followUpVideoHousekeeping(recorded(kind, data), alarms);
  return { raised, follow, valid };
}

describe('alarms of video housekeeping', () => {
  it('raises video-retention-failed once, naming the first failure, and clears it after a clean run', () => {
    const { raised, follow, valid } = book();
    const failed = {
      failed: 2,
      failures: [{ camera: 'cam-a', day: '2026-01-01', step: 'key', detail: 'cam-a/2026-01-01: EROFS' }],
      resolved: false,
    };
    follow('video.retention-failed', failed);
    follow('video.retention-failed', { ...failed, failed: 3 });
    follow('video.retention-failed', { failed: 0, failures: [], resolved: true });
    expect(raised.map((e) => e.kind)).toEqual(['alarm.raised', 'alarm.cleared']);
    expect(raised[0]?.data).toMatchObject({
      alarm: 'video-retention-failed',
      key: 'video-retention-failed',
      severity: 'warning',
      detail: expect.stringContaining('cam-a/2026-01-01 key: cam-a/2026-01-01: EROFS'),
    });
    expect(valid.Check(raised[0]?.data)).toBe(true);
  });

  it('raises video-retention-paused while the clock is not synchronised, cleared when it is', () => {
    const { raised, follow } = book();
    follow('video.retention-paused', { reason: 'clock-unsynchronised', resolved: false });
    follow('video.retention-paused', { reason: 'clock-unsynchronised', resolved: true });
    expect(raised.map((e) => [e.kind, (e.data as { alarm: string }).alarm])).toEqual([
      ['alarm.raised', 'video-retention-paused'],
      ['alarm.cleared', 'video-retention-paused'],
    ]);
  });

  it('raises a critical video-tampered incident naming the file, each time it is read', () => {
    const { raised, follow, valid } = book();
    const tampered = {
      camera: 'cam-1',
      day: '2026-03-01',
      file: '20260301T080000.000Z.mp4.idgv',
      detail: 'its plaintext hashes to …',
    };
    follow('video.tampered', tampered);
    follow('video.tampered', tampered);
    expect(raised).toHaveLength(2);
    expect(raised[0]?.data).toMatchObject({
      alarm: 'video-tampered',
      severity: 'critical',
      key: 'video-tampered:cam-1:2026-03-01:20260301T080000.000Z.mp4.idgv',
      detail: expect.stringContaining('cam-1/2026-03-01/20260301T080000.000Z.mp4.idgv'),
    });
    expect(valid.Check(raised[0]?.data)).toBe(true);
  });

  it('reports footage dated anew as a video-footage-misdated incident', () => {
    const { raised, follow, valid } = book();
    follow('video.footage-misdated', {
      camera: 'cam-1',
      day: '2000-01-01',
      files: 3,
      basis: 'uptime',
      from: '2026-03-01T08:00:00.000Z',
      to: '2026-03-01T08:00:03.000Z',
    });
    expect(raised[0]?.data).toMatchObject({ alarm: 'video-footage-misdated', severity: 'warning' });
    expect(valid.Check(raised[0]?.data)).toBe(true);
  });
});
