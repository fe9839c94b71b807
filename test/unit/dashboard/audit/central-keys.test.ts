import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/config-error.js';
import { DashboardConfig } from '../../../../src/config/dashboard-config.js';
import { parseConfigText } from '../../../../src/config/load-config.js';
import {
  centralKeyFor,
  centralKeysFromConfig,
  untrustedKey,
} from '../../../../src/dashboard/audit/central-keys.js';
import { exportPublicKey } from '../../../../src/protocol/signing.js';

const current = generateKeyPairSync('ed25519').privateKey;
const currentPublic = exportPublicKey(createPublicKey(current));
const old = exportPublicKey(generateKeyPairSync('ed25519').publicKey);
const older = exportPublicKey(generateKeyPairSync('ed25519').publicKey);

const config = (retired: string) =>
  parseConfigText(
    `kind: dashboard\ndatabase: { url: 'postgres://db/identgate' }\nmqtt: { url: 'mqtt://broker' }\nkeys:\n  retiredSigning:\n${retired}`,
    DashboardConfig,
    { displayName: 'dashboard.yaml' },
  );

describe('the central key and the keys it replaced', () => {
  const keys = {
    current: currentPublic,
    retired: [
      { publicKey: old, lastDay: '2026-11-28' },
      { publicKey: older, lastDay: '2025-01-31' },
    ],
  };

  it('trusts the current key on any day, a retired one up to and including its last day', () => {
    expect(centralKeyFor(keys, currentPublic, '2020-01-01')).toBe('current');
    expect(centralKeyFor(keys, old, '2026-11-28')).toBe('retired');
    expect(centralKeyFor(keys, old, '2026-11-29')).toBeUndefined();
    expect(centralKeyFor(keys, older, '2025-01-31')).toBe('retired');
    expect(centralKeyFor(keys, older, '2025-02-01')).toBeUndefined();
    expect(
      centralKeyFor(keys, exportPublicKey(generateKeyPairSync('ed25519').publicKey), '2020-01-01'),
    ).toBeUndefined();
  });

  it('says why a key is not trusted: retired before, or unknown', () => {
    expect(untrustedKey(keys, old, 'checkpoint 2026-12-01')).toBe(
      `checkpoint 2026-12-01 is signed by ${old}, a central key retired after 2026-11-28`,
    );
    expect(untrustedKey({ current: currentPublic, retired: [] }, older, 'x')).toBe(
      `x is signed by an unknown key ${older}, not by the central key ${currentPublic} (a key keys.signing replaced belongs in keys.retiredSigning)`,
    );
    expect(untrustedKey(keys, 'ed25519:other', 'x')).toMatch(
      /not by the central key .* nor by a retired one \(/,
    );
  });

  it('reads keys.retiredSigning from the configuration, empty by default', () => {
    const parsed = config(`    - { publicKey: '${old}', lastDay: '2026-11-28' }\n`);
    expect(centralKeysFromConfig(parsed.keys, current)).toEqual({
      current: currentPublic,
      retired: [{ publicKey: old, lastDay: '2026-11-28' }],
    });
    expect(centralKeysFromConfig({}, undefined)).toEqual({ retired: [] });
  });

  it('refuses a retired list that cannot be meant: a day not in the calendar, a key twice (when read), the current key (at start)', () => {
    expect(() =>
      config(
        [
          `    - { publicKey: '${old}', lastDay: '2026-02-30' }`,
          `    - { publicKey: '${old}', lastDay: '2026-03-01' }`,
          '',
        ].join('\n'),
      ),
    ).toThrow(
      /keys\.retiredSigning\[0\]\.lastDay: 2026-02-30 is not a day of the calendar[\s\S]*keys\.retiredSigning\[1\]: .* is listed twice/,
    );
    const parsed = config(`    - { publicKey: '${currentPublic}', lastDay: '2026-01-01' }\n`);
    let error: unknown;
    try {
      centralKeysFromConfig(parsed.keys, current);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(
      `keys.retiredSigning[0]: ${currentPublic} is keys.signing itself`,
    );
    // Configurations built in code meet the same rules at start.
    expect(() =>
      centralKeysFromConfig(
        {
          retiredSigning: [
            { publicKey: old, lastDay: '2026-02-30' },
            { publicKey: old, lastDay: '2026-03-01' },
          ],
        },
        current,
      ),
    ).toThrow(/2026-02-30 is not a day of the calendar[\s\S]*is listed twice/);
  });

  it('refuses malformed entries when the configuration is read', () => {
    expect(() => config(`    - { publicKey: 'rsa:abc', lastDay: '2026-11-28' }\n`)).toThrow(/publicKey/);
    expect(() => config(`    - { publicKey: '${old}', lastDay: '28.11.2026' }\n`)).toThrow(/lastDay/);
    expect(() => config(`    - { publicKey: '${old}' }\n`)).toThrow(/lastDay/);
  });
});
