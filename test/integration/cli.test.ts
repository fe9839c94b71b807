import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

describe('identgate CLI', () => {
  it('stops on a broken config file, naming file, key and allowed values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-cli-'));
    const file = join(dir, 'dashboard.yaml');
    writeFileSync(file, 'kind: dashboard\nhttp:\n  port: eighty\n  hots: 0.0.0.0\n');
    const result = await runCli(['dashboard', '--config', file]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`${file}: 2 configuration problem(s)`);
    expect(result.stderr).toMatch(/line 3: http\.port: must be an integer from 0 to 65535 .*got "eighty"/);
    expect(result.stderr).toMatch(/line 4: http\.hots: unknown key; allowed here: host, port/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('says when the config file does not exist', async () => {
    const result = await runCli(['gateway', '--config', '/nonexistent/gateway.yaml']);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/\/nonexistent\/gateway\.yaml: .*cannot read the file/);
  });

  it('rejects unknown commands and options with usage help', async () => {
    expect(await runCli(['teleport'])).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('unknown command "teleport"'),
    });
    expect(await runCli(['sim', '--colour', 'red'])).toMatchObject({ code: 64 });
  });

  describe('dashboard on a port already in use', () => {
    let blocker: Server;
    let port: number;
    let database: { url: string; drop: () => Promise<void> };

    beforeAll(async () => {
      database = await createTestDatabase();
      blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      port = typeof address === 'object' && address ? address.port : 0;
    });

    afterAll(async () => {
      blocker.close();
      await database.drop();
    });

    it('gives a clear message instead of a stack trace', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'idg-cli-'));
      const file = join(dir, 'dashboard.yaml');
      const url = new URL(database.url);
      const password = url.password;
      url.password = '';
      writeFileSync(
        file,
        `kind: dashboard\nhttp:\n  port: ${port}\ndatabase:\n  url: ${url.toString()}\n${password ? '  password: { env: TEST_DB_PASSWORD }\n' : ''}mqtt:\n  url: ${mqttUrl()}\n`,
      );
      const result = await runCli(['dashboard', '--config', file], {
        env: { TEST_DB_PASSWORD: decodeURIComponent(password) },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `identgate: dashboard: 127.0.0.1:${port} is already in use by another process`,
      );
      expect(result.stderr).toContain('[IDG_PORT_IN_USE]');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });
  });

  describe('sim against a running gateway', () => {
    let system: TestSystem;
    beforeAll(async () => {
      system = await startTestSystem();
    });
    afterAll(async () => {
      await system.stop();
    });

    it('prints what the door did', async () => {
      const result = await runCli([
        'sim',
        'badge',
        system.agent.badge,
        '--door',
        'main',
        '--socket',
        system.gateway.simSocketPath,
      ]);
      expect(result).toMatchObject({ code: 0, stdout: 'awaiting code (20 s)\n' });
    });

    it('lists the doors that exist when the door is unknown', async () => {
      const result = await runCli([
        'sim',
        'badge',
        '42',
        '--door',
        'back',
        '--socket',
        system.gateway.simSocketPath,
      ]);
      expect(result.code).toBe(64);
      expect(result.stderr).toContain('unknown door "back"; doors: main');
    });

    it('explains when no demo or gateway is running', async () => {
      const empty = mkdtempSync(join(tmpdir(), 'idg-cli-'));
      const result = await runCli(['sim', 'badge', '42', '--state-dir', empty]);
      expect(result.code).toBe(64);
      expect(result.stderr).toContain(
        `no running demo or gateway with simulated devices found under ${empty}`,
      );
    });
  });
});
