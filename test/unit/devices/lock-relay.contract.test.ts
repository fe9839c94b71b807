import { SimulatedLockRelay } from '../../../src/gateway/devices/simulated-devices.js';
import { lockRelayContract } from './contracts/lock-relay.contract.js';
import { doorRig, rp1 } from './helpers/door-rig.js';

lockRelayContract('simulated', async (failMode) => {
  const lock = new SimulatedLockRelay('main.lock', undefined, { failMode });
  return { lock, released: () => lock.state === 'unlocked' };
});

lockRelayContract('gpio, active-high relay driving a strike (energised = unlocked)', async (failMode) => {
  const { board, door } = doorRig(
    {
      lock: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 17 }, activeLow: false, energised: 'unlocked' },
    },
    failMode,
  );
  return { lock: door.lock, released: () => board.level(rp1(17)) === 1 };
});

lockRelayContract('gpio, active-low relay holding a maglock (energised = locked)', async (failMode) => {
  const { board, door } = doorRig(
    { lock: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 17 }, activeLow: true, energised: 'locked' } },
    failMode,
  );
  // Active low: the relay is energised while the pin is low, and an energised maglock holds.
  return { lock: door.lock, released: () => board.level(rp1(17)) === 1 };
});
