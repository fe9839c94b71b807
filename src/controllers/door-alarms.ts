import type { AlarmBook } from './alarm-book.js';
import type { DoorSettings } from './door-ports.js';

/**
 * The alarms a door raises, with their keys, severities and texts: forced and held open (conditions
 * that end when the door closes, also across a restart), duress and anti-passback (incidents), and
 * the internal error that put it into its fail mode. The door controller decides when.
 */

/**
 * A forced or held-open door carried over a restart (AlarmBook) holds while it stands open, and
 * ended if it was closed meanwhile: the closing itself was not seen. With a contact that cannot
 * tell (`initiallyOpen` undefined) it holds (forcing a door and then cutting its sensor must not
 * end the alarm), until the contact reports the door closed. One the gateway did not carry over
 * (its alarm file missing) the central side closes on the gateway's report of its conditions.
 */
export function resumeDoorAlarms(alarms: AlarmBook, door: string, initiallyOpen: boolean | undefined): void {
  for (const alarm of ['door-forced', 'door-held-open'] as const) {
    const key = `${alarm}:${door}`;
    if (initiallyOpen !== false) alarms.confirm(key);
    else alarms.endCarriedOver(key, 'door closed at start');
  }
}

/** The door opened while its lock was not released. */
export function doorForced(alarms: AlarmBook, settings: DoorSettings): void {
  alarms.raise({
    alarm: 'door-forced',
    key: `door-forced:${settings.id}`,
    severity: 'critical',
    door: settings.id,
    room: settings.room,
  });
}

/** The door stood open past its `heldOpenMs`. */
export function doorHeldOpen(alarms: AlarmBook, settings: DoorSettings, openMs: number): void {
  alarms.raise({
    alarm: 'door-held-open',
    key: `door-held-open:${settings.id}`,
    severity: 'warning',
    door: settings.id,
    room: settings.room,
    detail: `open for ${Math.round(openMs / 1000)} s`,
  });
}

/** The door closed: whether it had been forced or held open, that condition is over. */
export function doorClosed(alarms: AlarmBook, door: string): void {
  alarms.clear(`door-held-open:${door}`, 'door closed');
  alarms.clear(`door-forced:${door}`, 'door closed');
}

/** A duress code was entered: a silent alarm, while the door opens as for any other code. */
export function duressEntered(
  alarms: AlarmBook,
  settings: DoorSettings,
  who: { person: string; badge: string },
  now: number,
): void {
  alarms.notify({
    alarm: 'duress',
    key: `duress:${settings.id}:${now}`,
    severity: 'critical',
    silent: true,
    door: settings.id,
    room: settings.room,
    person: who.person,
    badge: who.badge,
    detail: 'duress code entered; the door opened as normal',
  });
}

/** A grant under a soft anti-passback rule that the passage violates. */
export function antiPassbackViolated(
  alarms: AlarmBook,
  settings: DoorSettings,
  who: { person: string; badge: string },
  direction: 'in' | 'out',
  now: number,
): void {
  alarms.notify({
    alarm: 'anti-passback',
    key: `anti-passback:${settings.id}:${now}`,
    severity: 'warning',
    door: settings.id,
    room: settings.room,
    person: who.person,
    badge: who.badge,
    detail: direction === 'in' ? 'entered while already recorded inside' : 'left while not recorded inside',
  });
}

/** Something went wrong inside the gateway while this door decided: it is in its fail mode now. */
export function internalErrorAlarm(alarms: AlarmBook, door: string, message: string): void {
  alarms.raise({
    alarm: 'internal-error',
    key: `internal-error:${door}`,
    severity: 'critical',
    door,
    detail: message.slice(0, 500),
  });
}
