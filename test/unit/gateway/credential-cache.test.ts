import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateTotpSecret } from '../../../src/controllers/totp-secret.js';
import { CredentialCache } from '../../../src/gateway/credential-cache.js';

const secret = generateTotpSecret();
const ada = {
  badge: 'B-1',
  person: 'ada',
  name: 'Ada Lovelace',
  status: 'active' as const,
  totpSecret: secret,
};

describe('credential cache', () => {
  it('survives a restart and finds credentials by badge', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    new CredentialCache(dir).replace([ada], 1000);
    const reloaded = new CredentialCache(dir);
    reloaded.load();
    expect(reloaded.findByBadge('B-1')).toEqual(ada);
    expect(reloaded.findByBadge('B-2')).toBeUndefined();
    expect(reloaded.syncedAt).toBe(1000);
  });

  it('keeps a badge listed both revoked and active revoked, whichever comes first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    const cache = new CredentialCache(dir);
    const revoked = { ...ada, status: 'revoked' as const };
    cache.replace([revoked, ada], 1000);
    expect(cache.findByBadge('B-1')?.status).toBe('revoked');
    cache.replace([ada, revoked], 1000);
    expect(cache.findByBadge('B-1')?.status).toBe('revoked');
  });

  it('holds no plaintext secret or name on disk, and its key file is private', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    new CredentialCache(dir).replace([ada], 1);
    const onDisk = readFileSync(join(dir, 'credentials.sealed'), 'utf8');
    expect(onDisk).not.toContain(secret);
    // The whole name: three letters turn up in a few kilobytes of base64 about once in a hundred.
    expect(onDisk).not.toContain('Ada Lovelace');
    expect(onDisk).not.toContain('Lovelace');
    expect(statSync(join(dir, 'credential-key')).mode & 0o077).toBe(0);
    expect(statSync(join(dir, 'credentials.sealed')).mode & 0o077).toBe(0);
  });

  it('reports a damaged version file, and writes it again from the saved set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    new CredentialCache(dir).replace([ada], 1, 7);
    const versionFile = join(dir, 'credentials.version');
    writeFileSync(versionFile, readFileSync(versionFile, 'utf8').replace('7', '9'));
    const reloaded = new CredentialCache(dir);
    reloaded.load();
    expect(reloaded.versionDamaged).toMatch(/credentials\.version is damaged/);
    expect(reloaded.newestVersion).toBe(7);
    const again = new CredentialCache(dir);
    again.load();
    expect(again.versionDamaged).toBeUndefined();
    expect(readFileSync(versionFile, 'utf8')).toMatch(/^7 /);
  });

  it('refuses a tampered cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    new CredentialCache(dir).replace([ada], 1);
    const path = join(dir, 'credentials.sealed');
    const sealed = readFileSync(path, 'utf8');
    // The first character of the last part (the tag) always carries six bits: changed, it must
    // fail. (Changing the next-to-last character to 'A' changed nothing when it was 'A' already.)
    const at = sealed.lastIndexOf('.') + 1;
    const flipped = sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1);
    writeFileSync(path, flipped);
    expect(() => new CredentialCache(dir).load()).toThrow(/failed authentication/);
  });

  it('refuses to open the cache with another key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cache-'));
    new CredentialCache(dir, randomBytes(32).toString('base64')).replace([ada], 1);
    expect(() => new CredentialCache(dir, randomBytes(32).toString('base64')).load()).toThrow(
      /not among the configured keys/,
    );
  });
});
