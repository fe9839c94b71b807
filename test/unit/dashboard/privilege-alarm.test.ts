import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/dashboard/audit/audit-log.js';
import { privilegeAlarm } from '../../../src/dashboard/auth/privilege-alarm.js';

const BY = 'staff:alice';
const entry = (action: string, details?: Record<string, unknown>): AuditEntry => ({
  actor: BY,
  action,
  target: 'staff:bob',
  ...(details ? { details } : {}),
});
const written = (...entries: AuditEntry[]) => entries.map((e, i) => ({ entry: e, id: 40 + i }));

describe('the staff-privilege-granted alarm of a change to a staff account', () => {
  it('names the account, what happened and who did it, keyed by the first entry of the change', () => {
    const alarm = privilegeAlarm(
      { login: 'bob', role: 'security' },
      written(entry('staff.created', { role: 'security' }), entry('staff.invitation-issued')),
    );
    expect(alarm).toEqual({
      alarm: 'staff-privilege-granted',
      key: 'staff-privilege-granted:40',
      severity: 'critical',
      detail: 'security account staff:bob: created, enrolment link issued by staff:alice (audit entry 40)',
    });
  });

  it('tells each way of handing an account over, and leaves out what hands nothing over', () => {
    const alarm = privilegeAlarm(
      { login: 'bob', role: 'admin' },
      written(
        entry('staff.sessions-ended', { sessions: 2 }),
        entry('staff.password-reset'),
        entry('staff.role-changed', { from: 'auditor', to: 'admin' }),
        entry('staff.enabled'),
        entry('staff.totp-reset'),
      ),
    );
    expect(alarm?.key).toBe('staff-privilege-granted:41');
    expect(alarm?.detail).toBe(
      'admin account staff:bob: password reset, role changed from auditor to admin, enabled, authenticator reset by staff:alice (audit entry 41)',
    );
  });

  it('raises none for an auditor account, whatever was done to it', () => {
    const changes = written(
      entry('staff.created', { role: 'auditor' }),
      entry('staff.invitation-issued'),
      entry('staff.totp-reset'),
    );
    expect(privilegeAlarm({ login: 'bob', role: 'auditor' }, changes)).toBeUndefined();
  });

  it('raises none for a change that takes away rather than hands over', () => {
    const changes = written(entry('staff.disabled'), entry('staff.sessions-ended', { sessions: 1 }));
    expect(privilegeAlarm({ login: 'bob', role: 'security' }, changes)).toBeUndefined();
    expect(privilegeAlarm({ login: 'bob', role: 'admin' }, [])).toBeUndefined();
  });
});
