import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../../src/dashboard/storage/event-store.js';
import { factsOf } from '../../../src/dashboard/storage/latest-facts.js';

let n = 0;
function event(kind: string, at: string, fields: Partial<StoredEvent> = {}): StoredEvent {
  n += 1;
  return {
    id: `e-${n}`,
    ingestNo: n,
    kind,
    site: 's',
    gateway: 'g',
    seq: n,
    occurredAt: at,
    receivedAt: at,
    door: null,
    person: null,
    data: {},
    ...fields,
  };
}

describe('the overview facts an ingested batch yields', () => {
  it('keeps the newest event per door and facet, whatever order the batch is in', () => {
    const facts = factsOf([
      event('door.unlocked', '2026-11-27T10:00:05Z', { door: 'main' }),
      event('door.locked', '2026-11-27T10:00:00Z', { door: 'main' }),
      event('door.opened', '2026-11-27T10:00:06Z', { door: 'main' }),
      event('door.locked', '2026-11-27T10:00:01Z', { door: 'side' }),
    ]);
    const lock = facts.filter((f) => f.facet === 'lock').map((f) => [f.subject, f.kind]);
    expect(lock.sort()).toEqual([
      ['main', 'door.unlocked'],
      ['side', 'door.locked'],
    ]);
    expect(facts.find((f) => f.facet === 'contact')).toMatchObject({ subject: 'main', kind: 'door.opened' });
  });

  it('breaks a tie in occurrence time by ingest order', () => {
    const facts = factsOf([
      event('door.locked', '2026-11-27T10:00:00Z', { door: 'main' }),
      event('door.unlocked', '2026-11-27T10:00:00Z', { door: 'main' }),
    ]);
    expect(facts.find((f) => f.facet === 'lock')?.kind).toBe('door.unlocked');
  });

  it('feeds one event into every facet it carries: a closed door is its contact and ends its alarm', () => {
    const facets = factsOf([event('door.closed', '2026-11-27T10:00:00Z', { door: 'main' })]).map(
      (f) => f.facet,
    );
    expect(facets.sort()).toEqual(['alarm', 'contact']);
  });

  it('keeps no person, badge or other field the overview does not read', () => {
    const [fact] = factsOf([
      event('room.occupancy', '2026-11-27T10:00:00Z', {
        person: 'ada',
        data: { room: 'ident-1', occupants: 2, people: ['ada', 'bob'], badge: '0004711' },
      }),
    ]);
    expect(fact).toMatchObject({ facet: 'occupancy', subject: 'ident-1', data: { occupants: 2 } });
    expect(JSON.stringify(fact)).not.toMatch(/ada|bob|0004711/);
  });

  it('ignores kinds that are no fact and door events without a door', () => {
    expect(
      factsOf([
        event('access.granted', '2026-11-27T10:00:00Z', { door: 'main', person: 'ada' }),
        event('door.locked', '2026-11-27T10:00:00Z'),
      ]),
    ).toEqual([]);
  });

  it('names cameras by their id and gateway-wide facts by the empty subject', () => {
    const facts = factsOf([
      event('camera.down', '2026-11-27T10:00:00Z', { data: { camera: 'cam-1', reason: 'no frames' } }),
      event('gateway.heartbeat', '2026-11-27T10:00:00Z'),
    ]);
    expect(facts.map((f) => [f.facet, f.subject, f.data])).toEqual([
      ['camera', 'cam-1', { reason: 'no frames' }],
      ['life', '', {}],
    ]);
  });
});
