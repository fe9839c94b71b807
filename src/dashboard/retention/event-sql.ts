import {
  type EventGroup,
  FOOTAGE_LINK_KIND,
  VIDEO_KIND_PREFIXES,
} from '../../controllers/retention/data-classes.js';

/**
 * SQL for the groups of `events` rows, built from the kinds in data-classes.ts so that the
 * database and the planner classify a row the same way. Only constants go into the text.
 */
const isVideo = VIDEO_KIND_PREFIXES.map((prefix) => `starts_with(kind, '${prefix}')`).join(' OR ');

export const EVENT_GROUP_SQL = `CASE WHEN kind = '${FOOTAGE_LINK_KIND}' THEN 'footage-link' WHEN ${isVideo} THEN 'video' ELSE 'access' END`;

export function eventGroupPredicate(group: EventGroup): string {
  switch (group) {
    case 'footage-link':
      return `kind = '${FOOTAGE_LINK_KIND}'`;
    case 'video':
      return `(${isVideo}) AND kind <> '${FOOTAGE_LINK_KIND}'`;
    case 'access':
      return `NOT (${isVideo})`;
  }
}
