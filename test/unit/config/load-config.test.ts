import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { DashboardConfig } from '../../../src/config/dashboard-config.js';
import { DemoConfig } from '../../../src/config/demo-config.js';
import { GatewayConfig } from '../../../src/config/gateway-config.js';
import {
  envNameFor,
  loadConfigFile,
  parseConfigText,
  resolveSecret,
} from '../../../src/config/load-config.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const minimalGateway = `kind: gateway
site: s1
id: gw-1
doors:
  - id: main
    room: r1
    devices:
      entryReader: { type: simulated }
      keypad: { type: simulated }
      lock: { type: simulated }
      contact: { type: simulated }
`;

describe('configuration files', () => {
  it('loads the shipped demo and example files', () => {
    expect(loadConfigFile('config/demo.yaml', DemoConfig, { env: {} }).gateway.doors[0]?.id).toBe('main');
    expect(loadConfigFile('config/gateway.example.yaml', GatewayConfig, { env: {} }).doors).toHaveLength(1);
    expect(loadConfigFile('config/dashboard.example.yaml', DashboardConfig, { env: {} }).http.port).toBe(
      8080,
    );
  });

  it('refuses two doors with one id, naming the second and the first', () => {
    const door = `  - id: main
    room: r1
    devices:
      entryReader: { type: simulated }
      keypad: { type: simulated }
      lock: { type: simulated }
      contact: { type: simulated }
`;
    const twice = `${minimalGateway}${door}`;
    expect(problems(() => parseConfigText(twice, GatewayConfig, { env: {} }))).toEqual([
      expect.stringMatching(/doors\[1\]\.id: must be unique, got "main", the id of doors\[0\] too/),
    ]);
    const renamed = `${minimalGateway}${door.replace('id: main', 'id: side')}`;
    expect(parseConfigText(renamed, GatewayConfig, { env: {} }).doors.map((d) => d.id)).toEqual([
      'main',
      'side',
    ]);
  });

  it('fills documented defaults', () => {
    const config = parseConfigText(minimalGateway, GatewayConfig, { env: {} });
    expect(config.doors[0]).toMatchObject({
      unlockSeconds: 5,
      codeTimeoutSeconds: 20,
      heldOpenSeconds: 30,
      failMode: 'secure',
    });
    expect(config.totp).toEqual({ digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 });
    expect(config.mqtt.url).toBe('mqtt://127.0.0.1:1883');
  });

  it('reports every problem at once, each with line, key path and what is allowed', () => {
    const text = `kind: gateway
site: "a/b"
id: gw-1
mqtt:
  url: http://broker
  colour: blue
doors:
  - id: main
    room: r1
    unlockSeconds: 500
    failMode: open
    devices:
      entryReader: { type: usb }
      keypad: { type: simulated }
      lock: { type: simulated }
`;
    const found = problems(() => parseConfigText(text, GatewayConfig, { env: {}, displayName: 'gw.yaml' }));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^line 2: site: must be an id of letters, digits/),
        expect.stringMatching(
          /^line 5: mqtt\.url: must be an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL/,
        ),
        expect.stringMatching(
          /^line 6: mqtt\.colour: unknown key; allowed here: url, clientId, username, password/,
        ),
        expect.stringMatching(/^line 10: doors\[0\]\.unlockSeconds: must be a number from 1 to 120, got 500/),
        expect.stringMatching(/^line 11: doors\[0\]\.failMode: must be one of "secure", "safe"/),
        expect.stringMatching(
          /doors\[0\]\.devices\.entryReader\.type: must be one of "simulated", "hid-keyboard", "hid-report", got "usb"/,
        ),
        expect.stringMatching(/doors\[0\]\.devices\.contact: is required/),
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('names the file in the error message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-config-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'kind: gateway\nsite: s\n');
    expect(() => loadConfigFile(file, GatewayConfig, { env: {} })).toThrow(
      new RegExp(`^${file}: \\d+ configuration problem`),
    );
  });

  it('reports YAML syntax errors with their line', () => {
    expect(
      problems(() => parseConfigText('kind: gateway\nsite: [unclosed\n', GatewayConfig, { env: {} })),
    ).toEqual([expect.stringMatching(/^line \d+: /)]);
  });

  it('refuses a file of another kind', () => {
    expect(problems(() => parseConfigText(minimalGateway, DashboardConfig, { env: {} }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/kind: must be "dashboard", got "gateway"/)]),
    );
  });

  it('applies IDENTGATE_* overrides and says where a bad value came from', () => {
    const env = { IDENTGATE_MQTT__URL: 'mqtt://10.0.0.5:1883', IDENTGATE_TOTP__DIGITS: '8' };
    const config = parseConfigText(minimalGateway, GatewayConfig, { env });
    expect(config.mqtt.url).toBe('mqtt://10.0.0.5:1883');
    expect(config.totp.digits).toBe(8);
    expect(
      problems(() =>
        parseConfigText(minimalGateway, GatewayConfig, { env: { IDENTGATE_TOTP__PERIOD_SECONDS: 'soon' } }),
      ),
    ).toEqual([
      expect.stringMatching(
        /^totp\.periodSeconds \(from IDENTGATE_TOTP__PERIOD_SECONDS\): must be an integer from 15 to 120/,
      ),
    ]);
  });

  it('derives variable names from key paths', () => {
    expect(envNameFor(['http', 'port'])).toBe('IDENTGATE_HTTP__PORT');
    expect(envNameFor(['stateDir'])).toBe('IDENTGATE_STATE_DIR');
  });

  it('refuses secrets written into the file', () => {
    const text = `${minimalGateway}mqtt:\n  password: hunter2\n`;
    expect(problems(() => parseConfigText(text, GatewayConfig, { env: {} }))).toEqual([
      expect.stringMatching(
        /mqtt\.password: must be \{ file: \/path\/to\/secret \} or \{ env: VARIABLE_NAME \}/,
      ),
    ]);
  });

  it('refuses database URLs with an embedded password', () => {
    const text = 'kind: dashboard\ndatabase:\n  url: postgres://user:secret@db/identgate\n';
    expect(problems(() => parseConfigText(text, DashboardConfig, { env: {} }))).toEqual([
      expect.stringMatching(/database\.url: must be a postgres:\/\/ URL without a password/),
    ]);
  });

  it('refuses a WebSocket broker URL for the dashboard, whose ingest speaks MQTT over TCP only', () => {
    const text = 'kind: dashboard\nmqtt:\n  url: wss://broker:443/mqtt\n';
    expect(problems(() => parseConfigText(text, DashboardConfig, { env: {} }))).toEqual([
      expect.stringMatching(/^line 3: mqtt\.url: must be an mqtt:\/\/ or mqtts:\/\/ URL without credentials/),
    ]);
  });
});

/** Behind a reverse proxy the dashboard believes the X-Forwarded-For of the proxies listed, and nobody else's. */
describe('trusted proxies of the dashboard', () => {
  it('trusts no proxy unless some are listed', () => {
    expect(parseConfigText('kind: dashboard\n', DashboardConfig, { env: {} }).http.trustedProxies).toEqual(
      [],
    );
  });

  it('takes addresses and CIDR ranges of both families', () => {
    const text = 'kind: dashboard\nhttp:\n  trustedProxies: [127.0.0.1, 10.20.0.0/16, "::1", "fd00::/8"]\n';
    expect(parseConfigText(text, DashboardConfig, { env: {} }).http.trustedProxies).toEqual([
      '127.0.0.1',
      '10.20.0.0/16',
      '::1',
      'fd00::/8',
    ]);
  });

  it('refuses a host name, a prefix out of range and a range of every address, naming each place', () => {
    const text =
      'kind: dashboard\nhttp:\n  trustedProxies: [proxy.example, 10.0.0.0/33, 0.0.0.0/0, "::/0", 127.0.0.1]\n';
    expect(problems(() => parseConfigText(text, DashboardConfig, { env: {} }))).toEqual([
      expect.stringMatching(
        /http\.trustedProxies\[0\]: "proxy\.example" is not an IP address or a CIDR range/,
      ),
      expect.stringMatching(
        /http\.trustedProxies\[1\]: "10\.0\.0\.0\/33": the prefix length must be from 1 to 32/,
      ),
      expect.stringMatching(/http\.trustedProxies\[2\]: "0\.0\.0\.0\/0" trusts every address/),
      expect.stringMatching(/http\.trustedProxies\[3\]: "::\/0" trusts every address/),
    ]);
  });
});

/** During a rotation of the central signing key a gateway trusts the old and the new key. */
describe('central keys of a gateway', () => {
  const key = (c: string) => `ed25519:${c.repeat(43)}`;
  const central = (lines: string) =>
    parseConfigText(`${minimalGateway}central:\n${lines}`, GatewayConfig, { env: {} });

  it('trusts publicKey alone unless keys are listed besides it', () => {
    expect(parseConfigText(minimalGateway, GatewayConfig, { env: {} }).central).toEqual({
      alsoTrustedKeys: [],
    });
    expect(central(`  publicKey: ${key('A')}\n`).central).toEqual({
      publicKey: key('A'),
      alsoTrustedKeys: [],
    });
    expect(
      central(`  publicKey: ${key('A')}\n  alsoTrustedKeys: [${key('B')}, ${key('C')}]\n`).central,
    ).toEqual({
      publicKey: key('A'),
      alsoTrustedKeys: [key('B'), key('C')],
    });
  });

  it('refuses a key listed besides it that is not an ed25519 key, naming its place', () => {
    expect(
      problems(() =>
        central(`  publicKey: ${key('A')}\n  alsoTrustedKeys: [${key('B')}, "ed25519:short"]\n`),
      ),
    ).toEqual([
      expect.stringMatching(
        /^line 14: central\.alsoTrustedKeys\[1\]: must be a string matching .*"ed25519:short"$/,
      ),
    ]);
  });

  it('refuses more than 3 keys besides it', () => {
    const four = ['B', 'C', 'D', 'E'].map(key).join(', ');
    expect(problems(() => central(`  publicKey: ${key('A')}\n  alsoTrustedKeys: [${four}]\n`))).toEqual([
      expect.stringMatching(/^line 14: central\.alsoTrustedKeys: must be at most 3 other central keys/),
    ]);
  });

  it('refuses keys listed besides publicKey when publicKey is not set', () => {
    expect(problems(() => central(`  alsoTrustedKeys: [${key('B')}]\n`))).toEqual([
      'line 13: central.alsoTrustedKeys: needs central.publicKey: these keys are trusted besides it, not instead of it; set publicKey to the key the dashboards sign with now',
    ]);
    expect(central('  alsoTrustedKeys: []\n').central).toEqual({ alsoTrustedKeys: [] });
  });
});

describe('secrets', () => {
  it('reads a secret from a 0600 file or from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-secret-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 's3cret\n', { mode: 0o600 });
    expect(resolveSecret({ file }, 'x')).toBe('s3cret');
    expect(resolveSecret({ env: 'MY_SECRET' }, 'x', { MY_SECRET: 'from-env' })).toBe('from-env');
  });

  it('refuses a secret file that group or others can read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-secret-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 's3cret');
    chmodSync(file, 0o644);
    expect(() => resolveSecret({ file }, 'mqtt.password')).toThrow(/readable by group or others.*chmod 600/);
  });

  it('says which variable is missing', () => {
    expect(() => resolveSecret({ env: 'NOT_SET_ANYWHERE' }, 'database.password', {})).toThrow(
      /NOT_SET_ANYWHERE is not set/,
    );
  });
});
