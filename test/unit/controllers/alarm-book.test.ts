import { describe, expect, it } from 'vitest';
import { AlarmBook, type HeldCondition } from '../../../src/controllers/alarm-book.js';
import { conditionDigest, MAX_REPORTED_CONDITIONS } from '../../../src/protocol/alarm-report.js';
import { checkEventData } from '../../../src/protocol/envelope.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';

/** A book over a store that remembers each list it was handed. */
function book() {
  const events: EventBody[] = [];
  const saved: HeldCondition[][] = [];
  const alarms = new AlarmBook((event) => events.push(event), {
    save: (conditions) => saved.push([...conditions]),
  });
  const told = () => events.map((e) => [e.kind, (e.data as { key: string }).key]);
  return { alarms, events, saved, told, last: () => saved.at(-1)?.map((c) => c.key) };
}

const cameraDown: HeldCondition = { alarm: 'camera-down', key: 'camera-down:cam-1', severity: 'critical' };
const forced: HeldCondition = {
  alarm: 'door-forced',
  key: 'door-forced:main',
  severity: 'critical',
  door: 'main',
};

describe('the alarm book across a restart', () => {
  it('keeps each condition it raises or clears in its store, with what clearing it needs', () => {
    const b = book();
    b.alarms.raise({ ...forced, room: 'ident-1' });
    b.alarms.raise({ ...cameraDown, detail: 'cam-1: exit' });
    expect(b.saved.at(-1)).toEqual([forced, cameraDown]);
    b.alarms.clear('door-forced:main', 'door closed');
    expect(b.saved.at(-1)).toEqual([cameraDown]);
  });

  it('keeps no incident: neither a notified one nor one raised once per run', () => {
    const b = book();
    b.alarms.notify({ alarm: 'duress', key: 'duress:main:1', severity: 'critical' });
    b.alarms.raise({ alarm: 'internal-error', key: 'internal-error:main', severity: 'critical' });
    b.alarms.raise({ alarm: 'credentials-rejected', key: 'credentials-no-central-key', severity: 'warning' });
    expect(b.saved).toEqual([]);
    expect(b.told()).toHaveLength(3);
  });

  it('sends a carried-over condition observed again once more, in case its first raising was lost, and holds it once', () => {
    const b = book();
    b.alarms.carryOver([cameraDown]);
    expect(b.events).toEqual([]);
    expect(b.alarms.raise({ ...cameraDown, detail: 'cam-1: exit' })).toBe(false);
    expect(b.alarms.raise({ ...cameraDown, detail: 'cam-1: exit again' })).toBe(false);
    expect(b.events).toEqual([{ kind: 'alarm.raised', data: { ...cameraDown, detail: 'cam-1: exit' } }]);
    expect(b.saved).toEqual([]);
    expect(b.alarms.isActive(cameraDown.key)).toBe(true);
  });

  it('clears a carried-over condition a subsystem finds ended, with its alarm type and door', () => {
    const b = book();
    b.alarms.carryOver([forced, cameraDown]);
    expect(b.alarms.clear('door-forced:main', 'door closed')).toBe(true);
    expect(b.events).toEqual([
      {
        kind: 'alarm.cleared',
        data: { alarm: 'door-forced', key: 'door-forced:main', door: 'main', detail: 'door closed' },
      },
    ]);
    expect(b.last()).toEqual(['camera-down:cam-1']);
  });

  it('ends the carried-over conditions nothing observed again, and keeps those observed', () => {
    const b = book();
    b.alarms.carryOver([forced, cameraDown]);
    b.alarms.raise(cameraDown);
    expect(b.alarms.endAllCarriedOver('not observed again')).toEqual(['door-forced:main']);
    expect(b.events.map((e) => e.data)).toEqual([
      cameraDown,
      { alarm: 'door-forced', key: 'door-forced:main', door: 'main', detail: 'not observed again' },
    ]);
    expect(b.alarms.activeKeys).toEqual(['camera-down:cam-1']);
    expect(b.last()).toEqual(['camera-down:cam-1']);
  });

  it('keeps a carried-over condition a subsystem confirms without raising it', () => {
    const b = book();
    b.alarms.carryOver([forced]);
    expect(b.alarms.confirm('door-forced:main')).toBe(true);
    expect(b.alarms.endAllCarriedOver('not observed again')).toEqual([]);
    expect(b.alarms.isActive('door-forced:main')).toBe(true);
  });

  it('ends a single condition only while it is carried over and unobserved, never one raised in this run', () => {
    const b = book();
    b.alarms.raise(cameraDown);
    expect(b.alarms.endCarriedOver('camera-down:cam-1', 'started')).toBe(false);
    b.alarms.carryOver([forced]);
    expect(b.alarms.endCarriedOver('door-forced:main', 'door closed at start')).toBe(true);
    expect(b.told()).toEqual([
      ['alarm.raised', 'camera-down:cam-1'],
      ['alarm.cleared', 'door-forced:main'],
    ]);
  });

  it('raises a carried-over condition afresh once it has been cleared', () => {
    const b = book();
    b.alarms.carryOver([cameraDown]);
    b.alarms.clear('camera-down:cam-1', 'recording again');
    expect(b.alarms.raise(cameraDown)).toBe(true);
    expect(b.told()).toEqual([
      ['alarm.cleared', 'camera-down:cam-1'],
      ['alarm.raised', 'camera-down:cam-1'],
    ]);
  });
});

describe('the alarm book’s report to the central side', () => {
  const request = '01a21a20-5c3e-7000-8f4b-2b1d0c9e7a11';
  const salt = 'c2FsdC1vZi10aGUtcmVxdQ';

  it('lists each condition it holds by alarm type and a digest of its key under the request’s salt, never an incident', () => {
    const b = book();
    b.alarms.carryOver([forced]);
    b.alarms.raise(cameraDown);
    b.alarms.raise({ alarm: 'internal-error', key: 'event-schema:door.opened', severity: 'warning' });
    b.alarms.notify({ alarm: 'duress', key: 'duress:main:1', severity: 'critical' });
    expect(b.alarms.report(request, salt)).toBe(2);
    const report = b.events.at(-1) as EventBody;
    expect(report).toEqual({
      kind: 'alarm.conditions',
      data: {
        request,
        held: 2,
        conditions: [
          { alarm: 'door-forced', digest: conditionDigest(salt, 'door-forced:main') },
          { alarm: 'camera-down', digest: conditionDigest(salt, 'camera-down:cam-1') },
        ],
      },
    });
    expect(checkEventData(report.kind, report.data)).toMatchObject({ ok: true });
  });

  it('names no key: a lock-out’s key names a badge, and its digest differs from one request to the next', () => {
    const b = book();
    b.alarms.raise({ alarm: 'badge-locked-out', key: 'badge-locked-out:0004711', severity: 'warning' });
    b.alarms.report(request, salt);
    b.alarms.report(request, 'b3RoZXItc2FsdC1vZi10aA');
    const [first, second] = b.events.slice(1).map((e) => JSON.stringify(e.data));
    expect(first).not.toContain('0004711');
    expect(first).not.toEqual(second);
    expect(conditionDigest(salt, 'badge-locked-out:0004711')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('lists none, saying how many it holds, when it holds more than one report may list', () => {
    const b = book();
    for (let i = 0; i <= MAX_REPORTED_CONDITIONS; i++)
      b.alarms.raise({ alarm: 'badge-locked-out', key: `badge-locked-out:B${i}`, severity: 'warning' });
    b.alarms.report(request, salt);
    const report = b.events.at(-1) as EventBody;
    expect(report.data).toEqual({ request, held: MAX_REPORTED_CONDITIONS + 1, conditions: [] });
    expect(checkEventData(report.kind, report.data)).toMatchObject({ ok: true });
  });

  it('sends the report behind the events that wait for the store, so that it follows what it reflects', () => {
    const events: EventBody[] = [];
    const waiting: Array<() => void> = [];
    const alarms = new AlarmBook((event) => events.push(event), {
      save: () => undefined,
      afterSaved: (tell) => waiting.push(tell),
    });
    alarms.raise(cameraDown);
    alarms.report(request, salt);
    expect(events).toEqual([]);
    for (const tell of waiting) tell();
    expect(events.map((e) => e.kind)).toEqual(['alarm.raised', 'alarm.conditions']);
  });
});
