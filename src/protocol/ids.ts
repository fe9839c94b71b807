/**
 * Identifiers of sites, gateways, doors, rooms and people appear in MQTT topics, file names and
 * URLs, so they are restricted to a conservative alphabet: no MQTT wildcards, no slashes, no dots.
 */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const idRegExp = new RegExp(ID_PATTERN);

export function isId(value: string): boolean {
  return idRegExp.test(value);
}
