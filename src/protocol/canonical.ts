/**
 * Canonical JSON for signatures, following RFC 8785 (JCS) for the values identgate sends:
 * object keys sorted by UTF-16 code units, no insignificant white space, strings and numbers as
 * ECMAScript serialises them. Non-finite numbers and non-JSON values are refused rather than
 * silently changed, so that the bytes signed are exactly the bytes verified.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot encode a non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a value of type ${typeof value}`);
  }
}
