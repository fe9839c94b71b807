import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfigFile, parseConfigText } from '../../../src/config/load-config.js';
import { WorkstationClientConfig } from '../../../src/config/workstation-config.js';

describe('workstation client configuration', () => {
  it('accepts the shipped sample and fills the defaults', () => {
    const config = loadConfigFile('hardware/pam/workstation.yaml', WorkstationClientConfig, { env: {} });
    expect(config).toMatchObject({ kind: 'workstation', graceSeconds: 120, breakGlass: { minutes: 60 } });
  });

  it('names the key and what is allowed for a wrong value', () => {
    const text = 'kind: workstation\nid: ws-1\nurl: https://central.example\ngraceSeconds: -5\n';
    expect(() => parseConfigText(text, WorkstationClientConfig, { env: {} })).toThrow(ConfigError);
    expect(() => parseConfigText(text, WorkstationClientConfig, { env: {} })).toThrow(/graceSeconds/);
  });

  it('runs late locks for 8 hours unless set between 0 (never) and 24', () => {
    const agent = (extra: string) =>
      parseConfigText(
        `kind: workstation\nid: ws-1\nurl: https://central.example\nagent:\n  site: hq\n  centralPublicKey: "ed25519:${'A'.repeat(43)}"\n${extra}`,
        WorkstationClientConfig,
        { env: {} },
      ).agent;
    expect(agent('')).toMatchObject({ lateLockHours: 8 });
    expect(agent('  lateLockHours: 0\n')).toMatchObject({ lateLockHours: 0 });
    expect(() => agent('  lateLockHours: 25\n')).toThrow(/lateLockHours/);
    expect(() => agent('  lateLockHours: -1\n')).toThrow(/lateLockHours/);
  });

  /** During a rotation of the central signing key the agent trusts the old and the new key. */
  it('trusts centralPublicKey alone unless up to 3 ed25519 keys are listed besides it', () => {
    const key = (c: string) => `"ed25519:${c.repeat(43)}"`;
    const agent = (extra: string) =>
      parseConfigText(
        `kind: workstation\nid: ws-1\nurl: https://central.example\nagent:\n  site: hq\n  centralPublicKey: ${key('A')}\n${extra}`,
        WorkstationClientConfig,
        { env: {} },
      ).agent;
    expect(agent('')).toMatchObject({ alsoTrustedCentralKeys: [] });
    expect(agent(`  alsoTrustedCentralKeys: [${key('B')}]\n`)).toMatchObject({
      alsoTrustedCentralKeys: [`ed25519:${'B'.repeat(43)}`],
    });
    expect(() => agent('  alsoTrustedCentralKeys: ["rsa:abc"]\n')).toThrow(
      /agent\.alsoTrustedCentralKeys\[0\]: must be a string matching/,
    );
    const four = ['B', 'C', 'D', 'E'].map(key).join(', ');
    expect(() => agent(`  alsoTrustedCentralKeys: [${four}]\n`)).toThrow(
      /agent\.alsoTrustedCentralKeys: must be at most 3 other central keys/,
    );
  });
});
