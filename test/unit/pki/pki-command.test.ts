import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPki } from '../../../src/cli/pki-command.js';

function workspace() {
  const root = mkdtempSync(join(tmpdir(), 'idg-pki-cli-'));
  const pki = (...args: string[]) =>
    runPki([...args, '--dir', join(root, 'pki'), '--ca-key-file', join(root, 'kek')], {});
  return { root, pki };
}

describe('identgate pki', () => {
  it('refuses to create a CA without a key-encryption key', async () => {
    const root = mkdtempSync(join(tmpdir(), 'idg-pki-cli-'));
    await expect(runPki(['init', '--name', 'CA', '--dir', join(root, 'pki')], {})).rejects.toMatchObject({
      code: 'IDG_CLI_USAGE',
      message: expect.stringMatching(/--ca-key-file/),
    });
  });

  it('creates the key-encryption key with mode 0600 when init is given a new file', async () => {
    const { root, pki } = workspace();
    await pki('init', '--name', 'Test CA');
    expect(statSync(join(root, 'kek')).mode & 0o777).toBe(0o600);
  });

  it('takes a CSR from the device to a certificate, the key staying with the device', async () => {
    const { root, pki } = workspace();
    await pki('init', '--name', 'Test CA');
    const device = join(root, 'device');
    await runPki(['csr', 'gateway', 'berlin/gw-1', '--out', device], {});
    expect(statSync(join(device, 'gateway.key')).mode & 0o777).toBe(0o600);
    const out = join(device, 'gateway.crt');
    const lines = await pki('sign', join(device, 'gateway.csr'), '--out', out);
    expect(lines[0]).toMatch(/^gateway:berlin:gw-1: certificate [0-9a-f]{32}, valid until/);
    expect(readFileSync(out, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const listed = await pki('list');
    expect(listed).toEqual([expect.stringMatching(/ valid .* csr +gateway:berlin:gw-1$/)]);
  });

  it('never overwrites a key on the device', async () => {
    const { root } = workspace();
    const device = join(root, 'device');
    await runPki(['csr', 'workstation', 'berlin/ws-1', '--out', device], {});
    await expect(runPki(['csr', 'workstation', 'berlin/ws-1', '--out', device], {})).rejects.toThrow(
      /never overwrites/,
    );
  });

  it('writes the broker queue and session limits given as options into mosquitto.conf', async () => {
    const { root, pki } = workspace();
    await pki('init', '--name', 'Test CA');
    const out = join(root, 'broker');
    const lines = await pki(
      'mosquitto-config',
      '--broker',
      'mqtt-1',
      '--out',
      out,
      '--max-queued-messages',
      '2000000',
      '--max-queued-bytes',
      '512MiB',
      '--persistent-client-expiration',
      '3w',
    );
    const conf = readFileSync(join(out, 'mosquitto.conf'), 'utf8');
    expect(conf).toMatch(/^max_queued_messages 2000000$/m);
    expect(conf).toMatch(/^max_queued_bytes 536870912$/m);
    expect(conf).toMatch(/^persistent_client_expiration 3w$/m);
    expect(lines).toContain(
      '  per client: max_queued_messages 2000000, max_queued_bytes 536870912 (512 MiB), persistent_client_expiration 3w',
    );
  });

  it('refuses a wrong broker limit, naming the option, before writing any file', async () => {
    const { root, pki } = workspace();
    await pki('init', '--name', 'Test CA');
    const out = join(root, 'broker');
    await expect(
      pki('mosquitto-config', '--broker', 'mqtt-1', '--out', out, '--persistent-client-expiration', '2d'),
    ).rejects.toMatchObject({
      code: 'IDG_CLI_USAGE',
      message: expect.stringMatching(/^--persistent-client-expiration must be .* from 7d .*, got "2d"$/),
    });
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a listen address without a usable port, before writing any file', async () => {
    const { root, pki } = workspace();
    await pki('init', '--name', 'Test CA');
    const out = join(root, 'broker');
    for (const listen of ['host:abc', '0.0.0.0:0', '0.0.0.0:70000', '0.0.0.0', 'a b:8883'])
      await expect(
        pki('mosquitto-config', '--broker', 'mqtt-1', '--out', out, '--listen', listen),
      ).rejects.toMatchObject({
        code: 'IDG_CLI_USAGE',
        message: expect.stringContaining(`--listen must be host:port`),
      });
    expect(existsSync(out)).toBe(false);
    await pki('mosquitto-config', '--broker', 'mqtt-1', '--out', out, '--listen', '[::1]:8884');
    expect(readFileSync(join(out, 'mosquitto.conf'), 'utf8')).toMatch(/^listener 8884 ::1$/m);
  });

  it('answers an unknown action with its usage', async () => {
    await expect(runPki(['frobnicate'], {})).rejects.toMatchObject({ code: 'IDG_CLI_USAGE' });
  });
});
