import { describe, expect, it } from 'vitest';
import { parseTopic, subscriptions, topics } from '../../../src/protocol/topics.js';

describe('topics', () => {
  it('builds every topic under identgate/v1/<site>/<gateway>/', () => {
    expect(topics.events('berlin', 'gw-1')).toBe('identgate/v1/berlin/gw-1/events');
    expect(topics.status('berlin', 'gw-1')).toBe('identgate/v1/berlin/gw-1/status');
    expect(topics.doorState('berlin', 'gw-1', 'main')).toBe('identgate/v1/berlin/gw-1/doors/main/state');
    expect(topics.commands('berlin', 'gw-1')).toBe('identgate/v1/berlin/gw-1/commands');
  });

  it('parses what it builds', () => {
    expect(parseTopic(topics.events('s', 'g'))).toEqual({
      ok: true,
      address: { site: 's', gateway: 'g', channel: 'events' },
    });
    expect(parseTopic(topics.doorState('s', 'g', 'd'))).toEqual({
      ok: true,
      address: { site: 's', gateway: 'g', channel: 'door-state', door: 'd' },
    });
  });

  it('refuses ids that would inject wildcards or extra levels', () => {
    for (const bad of ['+', '#', 'a/b', '', 'a b', '.hidden']) {
      expect(() => topics.events(bad, 'g')).toThrow(/invalid site id/);
    }
  });

  it('rejects foreign, malformed and unknown-channel topics with a reason', () => {
    expect(parseTopic('other/v1/s/g/events')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not under'),
    });
    expect(parseTopic('identgate/v1/s/g/secrets')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('unknown channel'),
    });
    expect(parseTopic('identgate/v1/s+/g/events')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('site'),
    });
    expect(parseTopic('identgate/v1/s/g/doors/d/other')).toMatchObject({ ok: false });
  });

  it('offers subscription filters for one site or all', () => {
    expect(subscriptions.events()).toBe('identgate/v1/+/+/events');
    expect(subscriptions.events('berlin')).toBe('identgate/v1/berlin/+/events');
  });
});
