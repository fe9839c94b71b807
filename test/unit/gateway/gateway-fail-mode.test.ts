import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayConfig } from '../../../src/config/gateway-config.js';
import { Gateway } from '../../../src/gateway/gateway.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { testDoor, testPolicy } from '../../helpers/door-config.js';
import { configured } from '../devices/helpers/device-configs.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from '../devices/helpers/fake-gpio.js';

/**
 * The relay goes to the door's fail mode before the gateway reads a key or a file: a run that
 * crashed during an unlock left the strike released, and a start that fails must not keep it so.
 */
const LOCK = 571 + 17;

function crashedDuringUnlock(mqttUrl = 'mqtt://127.0.0.1:1883') {
  const board = new FakeGpioBoard();
  // sysfs keeps the pin exported and high (strike released) after the process died.
  Object.assign(board.pin(LOCK), { exported: true, direction: 'out', physical: 1 });
  const door = testDoor();
  const config = configured(GatewayConfig, {
    kind: 'gateway',
    site: 'site-a',
    id: 'gw-1',
    stateDir: mkdtempSync(join(tmpdir(), 'idg-gw-fail-mode-')),
    mqtt: { url: mqttUrl },
    policy: testPolicy(),
    doors: [
      {
        ...door,
        devices: {
          ...door.devices,
          lock: {
            type: 'gpio',
            pin: { chip: 'pinctrl-rp1', line: 17 },
            activeLow: false,
            energised: 'unlocked',
          },
        },
      },
    ],
  });
  const deviceContext = { Gpio: board.Gpio, sysfsRoot: fakeSysfs(PI5_CHIPS) };
  return { board, config, deviceContext };
}

describe('gateway: the relays at boot', () => {
  it('locks a fail-secure door even when a state key that cannot be read stops the gateway', () => {
    const { board, config, deviceContext } = crashedDuringUnlock();
    expect(
      () => new Gateway({ config, log: silentLogger, credentialKey: 'not a key', deviceContext }),
    ).toThrow(expect.objectContaining({ code: 'IDG_CRYPTO_KEY' }));
    expect(board.level(LOCK)).toBe(0);
  });

  it('leaves the door locked when the start fails after the gateway was built', async () => {
    // A plain connection outside loopback: refused as the start begins.
    const { board, config, deviceContext } = crashedDuringUnlock('mqtt://broker.example:1883');
    const gateway = new Gateway({ config, log: silentLogger, deviceContext });
    await expect(gateway.start()).rejects.toMatchObject({ code: 'IDG_TLS_REQUIRED' });
    expect(board.level(LOCK)).toBe(0);
  });
});
