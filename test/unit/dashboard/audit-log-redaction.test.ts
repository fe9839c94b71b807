import { describe, expect, it } from 'vitest';
import { redactAuditEntry } from '../../../src/dashboard/retention/audit-log-erasure.js';

const ada = 'agent-ada';
const badges = new Set(['B-ADA']);
const redact = (target: string | null, details: unknown) =>
  redactAuditEntry({ target, details }, ada, badges);

/** What of an audit entry an erasure rewrites to `erased`. */
describe('redacting an audit entry for an erasure', () => {
  it('takes the target of a change to the person, and any badge it names', () => {
    expect(redact(`person:${ada}`, {})).toEqual({ target: true, paths: [] });
    expect(redact(`person:${ada}`, { badge: 'B-OLD' })).toEqual({ target: true, paths: [['badge']] });
  });

  it('takes the person in a search filter, an export query and a workstation user', () => {
    expect(redact(null, { person: ada, site: 'berlin', limit: 100 })).toEqual({
      target: false,
      paths: [['person']],
    });
    expect(redact('export-1', { query: { from: 'x', person: ada }, rows: 3 })).toEqual({
      target: false,
      paths: [['query', 'person']],
    });
    expect(redact('workstation:ws-1', { user: ada, reason: 'left' })?.paths).toEqual([['user']]);
  });

  it('leaves the id where it does not name an agent, and entries about someone else', () => {
    expect(redact('site:agent-ada', { id: ada, name: ada })).toBeUndefined();
    expect(redact('person:agent-bob', { badge: 'B-ADA' })).toBeUndefined();
    expect(redact(`person:${ada}-2`, {})).toBeUndefined();
  });

  it('takes one of the person’s badges in an entry about no person, and skips values already erased', () => {
    expect(redact(null, { badge: 'B-ADA', filters: [{ badge: 'B-ADA' }] })?.paths).toEqual([
      ['badge'],
      ['filters', '0', 'badge'],
    ]);
    expect(redact('person:erased', { badge: 'erased', person: 'erased' })).toBeUndefined();
  });
});
