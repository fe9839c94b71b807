import { describe, expect, it } from 'vitest';
import { complianceStatus, complianceWarnings } from '../../../src/controllers/compliance.js';
import { credential } from '../../helpers/door-harness.js';

const settings = { backgroundCheckMaxDays: 1095, trainingMaxDays: 365, warnDays: 30 };
const now = Date.UTC(2026, 5, 1, 12);

describe('compliance', () => {
  it('computes the last valid day and the days left of each requirement', () => {
    const status = complianceStatus(
      credential({ badge: 'b', person: 'p', backgroundCheckOn: '2024-01-01', trainingOn: '2025-06-20' }),
      settings,
      now,
    );
    expect(status).toEqual([
      { requirement: 'background-check', expiresOn: '2026-12-31', state: 'ok', daysLeft: 213 },
      { requirement: 'security-training', expiresOn: '2026-06-20', state: 'expiring', daysLeft: 19 },
    ]);
  });

  it('counts the last valid day as still valid and the day after as lapsed', () => {
    const c = credential({ badge: 'b', person: 'p', trainingOn: '2025-06-01' });
    expect(complianceStatus(c, { trainingMaxDays: 365, warnDays: 0 }, now)[0]).toMatchObject({
      state: 'expiring',
      daysLeft: 0,
    });
    expect(complianceStatus(c, { trainingMaxDays: 365, warnDays: 0 }, now + 86_400_000)[0]).toMatchObject({
      state: 'lapsed',
    });
  });

  it('does not require what the site does not configure', () => {
    expect(complianceStatus(credential({ badge: 'b', person: 'p' }), { warnDays: 30 }, now)).toEqual([]);
  });

  it('warns once per person and requirement, for active badges only', () => {
    const warnings = complianceWarnings(
      [
        credential({ badge: 'b1', person: 'ada', trainingOn: '2025-06-20' }),
        credential({ badge: 'b2', person: 'ada', trainingOn: '2025-06-20' }),
        credential({ badge: 'b3', person: 'rev', trainingOn: '2025-06-20', status: 'revoked' }),
      ],
      settings,
      now,
    );
    // The missing background check is lapsed, not expiring: it denies entry instead of warning.
    expect(warnings).toEqual([
      { person: 'ada', requirement: 'security-training', expiresOn: '2026-06-20', daysLeft: 19 },
    ]);
  });
});
