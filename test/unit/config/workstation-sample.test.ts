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
});
