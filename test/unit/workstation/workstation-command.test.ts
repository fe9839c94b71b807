import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/cli-error.js';
import { lockAgent, runWorkstation } from '../../../src/cli/workstation-command.js';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { WorkstationClientConfig } from '../../../src/config/workstation-config.js';
import { CentralClient } from '../../../src/workstation/central-client.js';

describe('identgate workstation: bad input gets a clear error', () => {
  it('asks for the user when neither --user nor PAM_USER is given', async () => {
    await expect(runWorkstation(['check'], {})).rejects.toThrow(UsageError);
    await expect(runWorkstation(['check'], {})).rejects.toThrow(/needs --user \(or PAM_USER\)/);
  });

  it('says where the configuration is expected when there is none', async () => {
    await expect(runWorkstation(['check', '--user', 'ada'], {})).rejects.toThrow(ConfigError);
  });

  it('lists the verbs for an unknown one', async () => {
    await expect(runWorkstation(['dance'], {})).rejects.toThrow(/identgate workstation check/);
  });

  it('needs --user and --reason for break-glass', async () => {
    await expect(runWorkstation(['break-glass', '--user', 'ada'], {})).rejects.toThrow(
      /needs --user and --reason/,
    );
  });

  it('refuses to start the agent without its configuration section', () => {
    const config = parseConfigText(
      'kind: workstation\nid: ws-1\nurl: https://central.example\n',
      WorkstationClientConfig,
      {
        env: {},
      },
    );
    expect(() => lockAgent(config, { IDENTGATE_WORKSTATION_TOKEN: 'idgws_x' })).toThrow(/agent: section/);
  });

  it('refuses to send the token over plain http to anything but loopback', () => {
    expect(
      () =>
        new CentralClient({
          url: 'http://central.example',
          workstation: 'ws-1',
          token: 't',
          timeoutMs: 1000,
        }),
    ).toThrow(/refusing plain http:\/\/ to central\.example/);
    expect(
      () =>
        new CentralClient({ url: 'http://127.0.0.1:8080', workstation: 'ws-1', token: 't', timeoutMs: 1000 }),
    ).not.toThrow();
  });
});
