import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmBook, type HeldCondition } from '../../../src/controllers/alarm-book.js';
import { generateTotpSecret } from '../../../src/controllers/totp-secret.js';
import { CredentialCache } from '../../../src/gateway/credential-cache.js';
import { CredentialSync } from '../../../src/gateway/credential-sync.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { type SyncedCredential, sealCredentialSet } from '../../../src/protocol/credential-set.js';
import { generateEncryptionKeyPair } from '../../../src/protocol/ecies.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';

const central = generateSigningKeyPair();
const gatewayKeys = generateEncryptionKeyPair();
const self = { site: 'hq', gateway: 'gw-1' };
const STATE_KEY = Buffer.alloc(32, 9).toString('base64');
const NOW = Date.parse('2026-11-28T08:00:00.000Z');

const active = (badge: string): SyncedCredential => ({
  badge,
  person: `p-${badge}`,
  name: `Name ${badge}`,
  status: 'active',
  totpSecret: generateTotpSecret(),
});
const emptySet: HeldCondition = { alarm: 'credentials-empty', key: 'credentials-empty', severity: 'warning' };
const revoked = (badge: string): SyncedCredential => ({ badge, person: `p-${badge}`, status: 'revoked' });

function sealed(version: number, credentials: SyncedCredential[], issuedAt = new Date(NOW).toISOString()) {
  return sealCredentialSet(
    { v: 1, ...self, version, issuedAt, credentials },
    central.privateKey,
    gatewayKeys.publicKey,
  );
}

/**
 * A gateway's credential sync over a cache in a fresh directory, and what it emitted; `carried`
 * are the alarm conditions its book carried over from the run before.
 */
/** `carried` null: the last run's conditions are not known (no alarm file, as after an update). */
function gatewaySync(dir = mkdtempSync(join(tmpdir(), 'idg-sync-')), carried: HeldCondition[] = []) {
  const events: EventBody[] = [];
  const alarms = new AlarmBook((event) => events.push(event));
  alarms.carryOver(carried);
  const clock = new FakeClock(NOW);
  const cache = new CredentialCache(dir, STATE_KEY);
  cache.load();
  const sync = new CredentialSync({
    ...self,
    centralKey: central.publicKey,
    keys: gatewayKeys,
    cache,
    clock,
    alarms,
    record: (event) => events.push(event),
    log: silentLogger,
  });
  const of = (kind: string) =>
    events.filter((e) => e.kind === kind).map((e) => e.data as Record<string, unknown>);
  return { dir, clock, cache, sync, events, of, alarms };
}

describe('credential sync at the gateway', () => {
  it('refuses a set older than the one in use, alarmed, and asks for a newer one once a minute', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(5000, [active('B1')]));
    // The central database was restored from a backup: its numbering is back at 4100.
    g.sync.receive(sealed(4101, [revoked('B1')]));
    g.sync.receive(sealed(4102, [revoked('B1')]));
    expect(g.cache.version).toBe(5000);
    expect(g.cache.findByBadge('B1')?.status).toBe('active');
    const refusals = g.of('alarm.raised').filter((a) => a.alarm === 'credentials-rejected');
    expect(refusals.map((a) => a.detail)).toEqual([
      expect.stringContaining('version 4101 is older than version 5000 applied here'),
      expect.stringContaining('version 4102 is older than version 5000 applied here'),
    ]);
    expect(g.of('credentials.requested')).toEqual([{ version: 5000 }]);
    g.clock.advance(60_000);
    g.sync.receive(sealed(4103, [revoked('B1')]));
    expect(g.of('credentials.requested')).toHaveLength(2);
    // Numbered above the gateway's version, as the central side then does, the set applies.
    g.sync.receive(sealed(5001, [revoked('B1')]));
    expect(g.cache.findByBadge('B1')?.status).toBe('revoked');
    // With another version in use, an older set asks again at once.
    g.sync.receive(sealed(4104, [revoked('B1')]));
    expect(g.of('credentials.requested')).toEqual([{ version: 5000 }, { version: 5000 }, { version: 5001 }]);
  });

  it('ignores the set in use when it comes again, without an alarm, also after a restart', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(7, [active('B1')]));
    g.sync.receive(sealed(7, [active('B1')])); // sealed anew: other bytes, the same set
    expect(g.of('credentials.updated')).toHaveLength(1);
    expect(g.of('alarm.raised')).toEqual([]);
    const restarted = gatewaySync(g.dir);
    restarted.sync.receive(sealed(7, [active('B1')]));
    expect(restarted.events).toEqual([]);
  });

  it('refuses another set under the version in use, and asks for a newer one', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(10, [active('B1')]));
    g.clock.advance(60_000);
    // A restored database numbers its next set, a revocation, with the version in use.
    const later = new Date(NOW + 60_000).toISOString();
    g.sync.receive(sealed(10, [revoked('B1')], later));
    expect(g.cache.findByBadge('B1')?.status).toBe('active');
    expect(g.of('alarm.raised').map((a) => a.detail)).toEqual([
      expect.stringContaining('version 10 is the version in use, but of another set'),
    ]);
    expect(g.of('credentials.requested')).toEqual([{ version: 10 }]);
    g.sync.receive(sealed(11, [revoked('B1')], later));
    expect(g.cache.findByBadge('B1')?.status).toBe('revoked');
  });

  it('does not open the same bytes twice: a refused payload repeated is refused once', () => {
    const g = gatewaySync();
    const forged = sealCredentialSet(
      { v: 1, ...self, version: 9, issuedAt: new Date(NOW).toISOString(), credentials: [active('B1')] },
      generateSigningKeyPair().privateKey,
      gatewayKeys.publicKey,
    );
    g.sync.receive(forged);
    g.sync.receive(forged);
    expect(g.of('alarm.raised').map((a) => a.detail)).toEqual([
      'signature does not verify with the central key',
    ]);
    g.sync.receive(sealed(9, [active('B1')]));
    expect(g.cache.version).toBe(9);
  });

  it('warns when a set has no active credential, and clears the warning with the next that has', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [active('B1')]));
    g.sync.receive(sealed(2, [revoked('B1')]));
    expect(g.cache.version).toBe(2);
    expect(g.of('alarm.raised')).toEqual([
      expect.objectContaining({ alarm: 'credentials-empty', severity: 'warning' }),
    ]);
    g.sync.receive(sealed(3, [revoked('B1'), active('B2')]));
    expect(g.of('alarm.cleared')).toEqual([expect.objectContaining({ key: 'credentials-empty' })]);
  });

  it('uses a newer set it cannot save, alarmed, and keeps the saved file as it was', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [active('B1')]));
    const before = readFileSync(join(g.dir, 'credentials.sealed'));
    // The next write cannot even start: its temporary file's name is taken by a directory.
    mkdirSync(join(g.dir, `credentials.sealed.tmp-${process.pid}`));
    g.sync.receive(sealed(2, [revoked('B1'), active('B2')]));
    expect(g.cache.findByBadge('B1')?.status).toBe('revoked');
    expect(g.of('alarm.raised')).toEqual([
      expect.objectContaining({
        alarm: 'credentials-unsaved',
        severity: 'critical',
        detail: expect.stringContaining('credential set 2 is in use but could not be saved'),
      }),
    ]);
    expect(readFileSync(join(g.dir, 'credentials.sealed'))).toEqual(before);
    const restarted = gatewaySync(g.dir);
    expect(restarted.cache.version).toBe(1);
  });

  it('clears the unsaved alarm once a later set is saved', () => {
    const g = gatewaySync();
    const blocker = join(g.dir, `credentials.sealed.tmp-${process.pid}`);
    mkdirSync(blocker);
    g.sync.receive(sealed(1, [active('B1')]));
    expect(g.of('alarm.raised').map((a) => a.alarm)).toEqual(['credentials-unsaved']);
    // Room on the disk again.
    rmdirSync(blocker);
    g.sync.receive(sealed(2, [active('B1')]));
    expect(g.of('alarm.cleared')).toEqual([expect.objectContaining({ key: 'credentials-unsaved' })]);
    expect(gatewaySync(g.dir).cache.version).toBe(2);
  });

  it('takes a version file that cannot be written alone for no unsaved set, and writes it with the next set', () => {
    const g = gatewaySync();
    const blocker = join(g.dir, `credentials.version.tmp-${process.pid}`);
    mkdirSync(blocker);
    g.sync.receive(sealed(1, [active('B1')]));
    expect(g.of('alarm.raised')).toEqual([]);
    expect(g.cache.versionUnsaved).toBeInstanceOf(Error);
    // The set is saved, version and all.
    expect(gatewaySync(g.dir).cache.newestVersion).toBe(1);
    rmdirSync(blocker);
    g.sync.receive(sealed(2, [active('B1')]));
    expect(g.cache.versionUnsaved).toBeUndefined();
    rmSync(join(g.dir, 'credentials.sealed'));
    expect(gatewaySync(g.dir).cache.newestVersion).toBe(2);
  });

  it('refuses a captured older set after the saved set was lost, and takes the newest again', () => {
    const captured = sealed(10, [active('B1')]);
    const g = gatewaySync();
    g.sync.receive(captured);
    const current = sealed(11, [revoked('B1'), active('B2')]);
    g.sync.receive(current);
    rmSync(join(g.dir, 'credentials.sealed'));
    const restarted = gatewaySync(g.dir);
    expect(restarted.cache.version).toBe(0);
    expect(restarted.cache.newestVersion).toBe(11);
    restarted.sync.receive(captured);
    expect(restarted.cache.findByBadge('B1')).toBeUndefined();
    expect(restarted.of('credentials.requested')).toEqual([{ version: 11 }]);
    restarted.sync.receive(current);
    expect(restarted.cache.findByBadge('B1')?.status).toBe('revoked');
  });

  it('says once that it cannot verify sets without a central key', () => {
    const events: EventBody[] = [];
    const sync = new CredentialSync({
      ...self,
      centralKey: undefined,
      keys: gatewayKeys,
      cache: new CredentialCache(mkdtempSync(join(tmpdir(), 'idg-sync-')), STATE_KEY),
      clock: new FakeClock(NOW),
      alarms: new AlarmBook((event) => events.push(event)),
      record: (event) => events.push(event),
      log: silentLogger,
    });
    sync.receive(sealed(1, [active('B1')]));
    sync.receive(sealed(2, [active('B1')]));
    expect(events.map((e) => [e.kind, (e.data as { key?: string }).key])).toEqual([
      ['alarm.raised', 'credentials-no-central-key'],
    ]);
  });

  it('keeps the empty-set warning carried over a restart while the set loaded has no active credential', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [revoked('B1')]));
    expect(g.of('alarm.raised').map((a) => a.key)).toEqual(['credentials-empty']);
    const again = gatewaySync(g.dir, [emptySet]);
    again.sync.started();
    // Held once, its raising sent once more in case the first one was lost.
    expect(again.of('alarm.raised').map((a) => a.key)).toEqual(['credentials-empty']);
    expect(again.of('alarm.cleared')).toEqual([]);
    expect(again.alarms.carriedOver).toEqual([]);
    // So that the next set with an active credential clears it in this run.
    again.sync.receive(sealed(2, [active('B2')]));
    expect(again.of('alarm.cleared').map((a) => a.key)).toEqual(['credentials-empty']);
    const third = gatewaySync(g.dir);
    third.sync.started();
    expect(third.events).toEqual([]);
  });

  it('raises the empty-set warning at start when the book did not carry it over', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [revoked('B1')]));
    const again = gatewaySync(g.dir);
    again.sync.started();
    expect(again.of('alarm.raised').map((a) => a.key)).toEqual(['credentials-empty']);
  });

  it('clears a carried-over empty-set warning at start when the set loaded has an active credential', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [active('B1')]));
    const again = gatewaySync(g.dir, [emptySet]);
    again.sync.started();
    expect(again.of('alarm.cleared')).toEqual([
      {
        alarm: 'credentials-empty',
        key: 'credentials-empty',
        detail: 'credential set 1 has 1 active credentials',
      },
    ]);
  });

  it('clears a carried-over unsaved-set alarm at start: the restart went back to the saved set', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [active('B1')]));
    const again = gatewaySync(g.dir, [
      { alarm: 'credentials-unsaved', key: 'credentials-unsaved', severity: 'critical' },
    ]);
    again.sync.started();
    expect(again.of('alarm.cleared')).toEqual([
      {
        alarm: 'credentials-unsaved',
        key: 'credentials-unsaved',
        detail: 'the restart went back to the saved set 1',
      },
    ]);
  });

  it('refuses a set whose time of issue matches the pattern but is no time', () => {
    const g = gatewaySync();
    g.sync.receive(sealed(1, [active('B1')], '2026-13-01T00:00:00.000Z'));
    expect(g.cache.version).toBe(0);
    expect(g.of('alarm.raised').map((a) => a.detail)).toEqual([
      expect.stringContaining('/body/issuedAt 2026-13-01T00:00:00.000Z is not a time'),
    ]);
  });

  it('sends no clearing on a guess where the last run’s conditions are not known: the report closes them centrally', () => {
    // A first start after an update: no alarm file, so nothing carried over.
    const g = gatewaySync();
    g.cache.replace([active('B1')] as never, NOW, 3);
    g.sync.started();
    expect(g.of('alarm.cleared')).toEqual([]);
  });
});
