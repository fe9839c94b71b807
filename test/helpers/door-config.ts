import type { PolicyConfig } from '../../src/config/door-policy-config.js';
import type { DoorConfig } from '../../src/config/gateway-config.js';

/**
 * The configuration pieces the tests' gateways and door runtimes share, without the heavier
 * helpers (system.ts) that start a whole system.
 */

/** The default door policy, with the clock taken as synchronised (the machine's is not checked). */
export function testPolicy(overrides: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    offlineHorizonHours: 72,
    compliance: { warnDays: 30 },
    badgeThrottle: { maxFailures: 5, windowMinutes: 15, lockoutMinutes: 15 },
    readerThrottle: { maxFailures: 20, windowMinutes: 5, lockoutMinutes: 2 },
    duress: { enabled: false, variant: 'last-digit-plus-one' },
    clockSync: { source: 'none', maxAgeSeconds: 600, checkIntervalSeconds: 60 },
    ...overrides,
  };
}

/** Door `main` in room `ident-1`, every device simulated (an exit reader: occupancy is counted). */
export function testDoor(): DoorConfig {
  return {
    id: 'main',
    room: 'ident-1',
    unlockSeconds: 5,
    codeTimeoutSeconds: 20,
    heldOpenSeconds: 30,
    failMode: 'secure',
    exitRequiresCode: false,
    devices: {
      entryReader: { type: 'simulated' },
      keypad: { type: 'simulated' },
      lock: { type: 'simulated' },
      contact: { type: 'simulated' },
      exitReader: { type: 'simulated' },
      rex: { type: 'simulated' },
      indicator: { type: 'simulated' },
    },
  };
}
