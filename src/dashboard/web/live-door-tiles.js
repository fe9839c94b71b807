// The live page's door tiles: each door's lock, contact and alarm as its events report them, and
// the remote unlock for those who respond.
import { api, el, toast, withReauth } from './lib.js';

function doorKey(site, gateway, door) {
  return `${site}/${gateway}/${door}`;
}

/** Door state as a tile shows it, advanced by events. */
function applyDoorEvent(state, event) {
  switch (event.kind) {
    case 'door.unlocked':
      state.lock = 'unlocked';
      break;
    case 'door.locked':
      state.lock = 'locked';
      break;
    case 'door.opened':
      state.contact = 'open';
      break;
    case 'door.closed':
      state.contact = 'closed';
      state.alarm = null;
      break;
    case 'door.forced':
      state.alarm = 'forced';
      break;
    case 'door.held-open':
      state.alarm = 'held-open';
      break;
    default:
      return false;
  }
  state.changedAt = event.occurredAt;
  return true;
}

function tileClass(door) {
  if (!door.gatewayOnline) return 'offline';
  if (door.alarm) return 'alarm';
  if (door.contact === 'open') return 'open';
  if (door.lock === 'unknown') return 'unknown';
  return door.lock === 'unlocked' ? 'unlocked' : 'locked';
}

function tileText(door) {
  if (!door.gatewayOnline) return 'OFFLINE';
  if (door.alarm === 'forced') return 'ALARM: forced';
  if (door.alarm === 'held-open') return 'ALARM: held open';
  // 'unknown' until the door reports (the overview reads a bounded window of events).
  if (door.lock === 'unknown' && door.contact === 'unknown') return 'unknown';
  return `${door.lock}, ${door.contact}`;
}

export class DoorTiles {
  constructor(mayRespond) {
    this.mayRespond = mayRespond;
    this.doors = new Map();
    this.list = el('ul', { id: 'doors', className: 'doors' });
  }

  /** The doors as GET /api/v1/overview reports them. */
  load(doors) {
    for (const d of doors) this.doors.set(doorKey(d.site, d.gateway, d.door), { ...d });
  }

  /** A door's event; a door not in the overview gets its tile with its first event. */
  apply(event) {
    if (!event.door) return;
    const key = doorKey(event.site, event.gateway, event.door);
    const door = this.doors.get(key) ?? {
      site: event.site,
      gateway: event.gateway,
      door: event.door,
      name: event.door,
      room: null,
      lock: 'unknown',
      contact: 'unknown',
      alarm: null,
      gatewayOnline: true,
    };
    if (applyDoorEvent(door, event)) {
      this.doors.set(key, door);
      this.render();
    }
  }

  /** The doors behind a gateway are shown offline while it is. */
  setGatewayOnline(site, gateway, online) {
    for (const door of this.doors.values())
      if (door.site === site && door.gateway === gateway) door.gatewayOnline = online;
    this.render();
  }

  render() {
    const doors = [...this.doors.values()].sort((a, b) =>
      doorKey(a.site, a.gateway, a.door).localeCompare(doorKey(b.site, b.gateway, b.door)),
    );
    this.list.replaceChildren(
      ...doors.map((door) => {
        const actions =
          this.mayRespond && door.gatewayOnline
            ? el(
                'button',
                { type: 'button', className: 'small', onclick: () => this.unlock(door) },
                'Unlock…',
              )
            : null;
        return el(
          'li',
          {
            className: `door ${tileClass(door)}`,
            dataset: { door: doorKey(door.site, door.gateway, door.door) },
          },
          el('strong', {}, door.name ?? door.door),
          el('span', {}, tileText(door)),
          el('small', {}, [door.site, door.room].filter(Boolean).join(' · ')),
          actions,
        );
      }),
    );
  }

  async unlock(door) {
    const reason = window.prompt(
      `Unlock door ${door.name ?? door.door} for 5 seconds. Reason (goes to the audit log):`,
    );
    if (!reason) return;
    try {
      const result = await withReauth(
        () =>
          api(
            'POST',
            `/api/v1/doors/${encodeURIComponent(door.site)}/${encodeURIComponent(door.gateway)}/${encodeURIComponent(door.door)}/unlock`,
            { seconds: 5, reason },
          ),
        'A remote unlock needs your password and a code.',
      );
      toast(
        `Door ${door.door}: ${result.status}${result.reason ? ` (${result.reason})` : ''}`,
        result.status === 'ok' ? 'success' : 'error',
      );
    } catch (error) {
      toast(error.message, 'error');
    }
  }
}
