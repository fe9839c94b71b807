import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ExitCode, UsageError } from '../../../src/cli/cli-error.js';
import { run } from '../../../src/cli/main.js';
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

describe("identgate workstation erase: the workstation half of a person's erasure", () => {
  it("removes the user's traces, prints the counts and exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-ws-erase-cli-'));
    try {
      const stateDir = join(dir, 'state');
      mkdirSync(join(stateDir, 'confirmed'), { recursive: true });
      mkdirSync(join(stateDir, 'reports'), { recursive: true });
      writeFileSync(join(stateDir, 'confirmed', 'agent-ada.json'), '{"at":1}');
      writeFileSync(join(stateDir, 'confirmed', 'agent-bob.json'), '{"at":1}');
      writeFileSync(join(stateDir, 'reports', '5-agent-ada.json'), '{"user":"agent-ada"}');
      writeFileSync(join(stateDir, 'break-glass.log'), '{"user":"agent-ada","at":5}\n');
      const config = join(dir, 'workstation.yaml');
      writeFileSync(
        config,
        `kind: workstation\nid: ws-1\nurl: https://central.example\nstateDir: ${stateDir}\n`,
      );
      const result = await runWorkstation(['erase', '--user', 'agent-ada', '--config', config], {});
      expect(result.code).toBe(ExitCode.ok);
      expect(result.lines[0]).toBe(
        'erased the local traces of agent-ada on this workstation: 1 confirmed login(s), 0 break-glass grant(s), 1 journal line(s), 1 pending break-glass report(s)',
      );
      expect(result.lines[1]).toMatch(/had not reached central/);
      expect(readdirSync(join(stateDir, 'confirmed'))).toEqual(['agent-bob.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 64 (usage) without --user or for a name that is not a user name', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['workstation', 'erase'])).toBe(ExitCode.usage);
      expect(await run(['workstation', 'erase', '--user', '../etc/passwd'])).toBe(ExitCode.usage);
      expect(String(stderr.mock.calls[1]?.[0])).toMatch(/erase needs --user with a valid user name/);
    } finally {
      stderr.mockRestore();
    }
  });
});
