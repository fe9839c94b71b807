import type { PresenceTracker } from '../../controllers/presence/presence-tracker.js';

/** The parts of a stored event presence reads. */
export interface PresenceEventInput {
  kind: string;
  site: string;
  occurredAt: string;
  data: Record<string, unknown>;
  /** The gateway that reported it and its sequence number: that gateway's order, whatever its clock. */
  gateway?: string;
  seq?: number;
}

/** The kinds of stored events that change presence. */
export const PRESENCE_EVENT_KINDS = [
  'access.granted',
  'access.denied',
  'lockdown.changed',
  'evacuation.changed',
] as const;

/** Applies one stored event to the tracker; other kinds are ignored. */
export function applyPresenceEvent(tracker: PresenceTracker, event: PresenceEventInput): void {
  const { data } = event;
  if (event.kind === 'access.granted' || event.kind === 'access.denied') {
    if (event.kind === 'access.denied' && data.reason === 'badge-revoked') {
      tracker.badgeRevoked(String(data.badge));
      return;
    }
    tracker.badge({
      site: event.site,
      door: String(data.door),
      direction: data.direction === 'out' ? 'out' : 'in',
      granted: event.kind === 'access.granted',
      badge: String(data.badge),
      at: Date.parse(event.occurredAt),
      ...(typeof data.person === 'string' ? { person: data.person } : {}),
      ...(event.gateway !== undefined && event.seq !== undefined
        ? { gateway: event.gateway, seq: event.seq }
        : {}),
    });
  } else if (event.kind === 'lockdown.changed' && data.active === true) {
    tracker.lockdown(event.site, typeof data.room === 'string' ? data.room : undefined);
  } else if (event.kind === 'evacuation.changed' && typeof data.active === 'boolean') {
    tracker.evacuation(event.site, event.gateway, data.active);
  }
}
