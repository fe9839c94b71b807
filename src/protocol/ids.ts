/**
 * Identifiers of sites, gateways, doors, rooms and people appear in MQTT topics, file names and
 * URLs, so they are restricted to a conservative alphabet: no MQTT wildcards, no slashes, no dots.
 */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const idRegExp = new RegExp(ID_PATTERN);

export function isId(value: string): boolean {
  return idRegExp.test(value);
}

/**
 * Workstation ids are host names (`ws-ident-1-01.example.internal`): dots are allowed, which are
 * plain characters in an MQTT topic level, a certificate's common name and a file name; MQTT's
 * wildcards and separators (`+`, `#`, `/`), colons (the CN's separator) and a leading dot are not.
 */
export const WORKSTATION_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$';
const workstationIdRegExp = new RegExp(WORKSTATION_ID_PATTERN);

export function isWorkstationId(value: string): boolean {
  return workstationIdRegExp.test(value);
}
