import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { generateTotpSecret } from '../../../src/controllers/totp-secret.js';
import { CredentialCache } from '../../../src/gateway/credential-cache.js';
import { loadSavedCredentials } from '../../../src/gateway/state-recovery.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';

const ada = { badge: 'B-1', person: 'ada', status: 'active' as const, totpSecret: generateTotpSecret() };

/** The saved credentials as the gateway's start loads them, and the alarms it raised. */
function start(dir: string) {
  const events: EventBody[] = [];
  const cache = new CredentialCache(dir);
  loadSavedCredentials(cache, new AlarmBook((event) => events.push(event)), new FakeClock(), silentLogger);
  return { cache, alarms: events.map((event) => event.data as Record<string, unknown>) };
}

describe('loading the saved credentials at start', () => {
  it('raises nothing for a set and version file that read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-recovery-'));
    new CredentialCache(dir).replace([ada], 1, 4);
    expect(start(dir)).toMatchObject({ alarms: [], cache: { version: 4 } });
  });

  it('tells officers when the highest version applied is not known, and what it holds now', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-recovery-'));
    new CredentialCache(dir).replace([ada], 1, 4);
    writeFileSync(join(dir, 'credentials.version'), 'x');
    const { alarms } = start(dir);
    expect(alarms).toEqual([
      expect.objectContaining({
        alarm: 'internal-error',
        key: 'credentials-version-damaged',
        severity: 'warning',
        detail: expect.stringContaining('it now holds version 4'),
      }),
    ]);
  });

  it('starts without a set it cannot read, with a critical alarm', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-recovery-'));
    new CredentialCache(dir).replace([ada], 1, 4);
    writeFileSync(join(dir, 'credentials.sealed'), 'damaged');
    const { cache, alarms } = start(dir);
    expect(cache.count).toBe(0);
    expect(cache.newestVersion).toBe(4);
    expect(alarms).toEqual([
      expect.objectContaining({ alarm: 'credentials-rejected', severity: 'critical' }),
    ]);
  });
});
