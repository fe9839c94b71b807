import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ContactDeviceConfig,
  ExitButtonDeviceConfig,
  IndicatorDeviceConfig,
  LockDeviceConfig,
} from '../../../src/config/device-config.js';

const ROLE_SCHEMAS: Record<string, TSchema> = {
  lock: LockDeviceConfig,
  contact: ContactDeviceConfig,
  rex: ExitButtonDeviceConfig,
  indicator: IndicatorDeviceConfig,
};

interface PinMap {
  board: string;
  chip: string;
  pins: Record<string, { device: unknown }>;
}

describe('hardening files', () => {
  it('turn the magic SysRq keys off', () => {
    const lines = readFileSync('hardware/hardening/90-identgate-sysctl.conf', 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(lines).toEqual(['kernel.sysrq = 0']);
  });

  it('show a USBGuard policy that pins every reader and keypad to its port', () => {
    const rules = readFileSync('hardware/hardening/usbguard-rules.conf.example', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('allow '));
    const inputDevices = rules.filter((line) => line.includes('with-interface 03:'));
    expect(inputDevices.length).toBeGreaterThan(0);
    for (const line of inputDevices) expect(line).toMatch(/ via-port "[0-9.-]+" /);
    expect(rules.every((line) => /^allow id [0-9a-f]{4}:[0-9a-f]{4} /.test(line))).toBe(true);
  });
});

describe('GPIO pin maps', () => {
  const maps = readdirSync('hardware/gpio')
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ file: f, map: parse(readFileSync(join('hardware/gpio', f), 'utf8')) as PinMap }));

  it('exist for the Raspberry Pi 4 and 5, on their header chips', () => {
    expect(maps.map((m) => [m.file, m.map.chip])).toEqual([
      ['raspberry-pi-4.yaml', 'pinctrl-bcm2711'],
      ['raspberry-pi-5.yaml', 'pinctrl-rp1'],
    ]);
  });

  it('give every role a configuration snippet that the gateway schema accepts, on the map’s chip', () => {
    for (const { file, map } of maps) {
      expect(Object.keys(map.pins), file).toEqual(['lock', 'contact', 'rex', 'indicator']);
      for (const [role, pin] of Object.entries(map.pins)) {
        const schema = ROLE_SCHEMAS[role] as TSchema;
        const value = Value.Default(schema, structuredClone(pin.device));
        expect(Compile(schema).Check(value), `${file} ${role}`).toBe(true);
        expect(JSON.stringify(pin.device), `${file} ${role}`).toContain(`"chip":"${map.chip}"`);
      }
    }
  });
});

describe('the systemd unit', () => {
  const unit = readFileSync('hardware/systemd/identgate-gateway.service', 'utf8');
  const directives = unit
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => line.trim());

  it('runs the gateway as the dedicated identgate user with the gpio group', () => {
    expect(directives).toEqual(
      expect.arrayContaining(['User=identgate', 'Group=identgate', 'SupplementaryGroups=gpio']),
    );
  });

  it('applies the hardening the installer expects', () => {
    expect(directives).toEqual(
      expect.arrayContaining([
        'ProtectSystem=strict',
        'ReadWritePaths=/var/lib/identgate',
        'NoNewPrivileges=yes',
        'PrivateTmp=yes',
        'ProtectHome=yes',
        'CapabilityBoundingSet=',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
        'DevicePolicy=closed',
        'DeviceAllow=char-hidraw rw',
      ]),
    );
  });

  it('leaves out the options that would break sysfs GPIO, hidraw or Node', () => {
    for (const broken of ['ProtectKernelTunables=yes', 'PrivateDevices=yes', 'MemoryDenyWriteExecute=yes']) {
      expect(directives).not.toContain(broken);
    }
  });
});
