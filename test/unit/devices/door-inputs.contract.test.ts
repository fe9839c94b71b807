import { SimulatedDoorContact, SimulatedExitButton } from '../../../src/gateway/devices/simulated-devices.js';
import { doorContactContract, exitButtonContract } from './contracts/door-inputs.contract.js';
import { doorRig, rp1 } from './helpers/door-rig.js';

doorContactContract('simulated', async () => {
  const contact = new SimulatedDoorContact('main.contact');
  return { contact, setOpen: async (open) => contact.set(open) };
});

doorContactContract('gpio (contact to ground, pull-up, high = open)', async () => {
  const { board, clock, door } = doorRig({
    contact: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 27 }, activeLow: false, debounceMs: 50 },
  });
  return {
    contact: door.contact,
    setOpen: async (open) => {
      board.bounce(rp1(27), open ? [1, 0, 1] : [0, 1, 0]);
      clock.advance(50);
    },
  };
});

exitButtonContract('simulated', async () => {
  const button = new SimulatedExitButton('main.rex');
  return { button, press: async () => button.press() };
});

exitButtonContract('gpio (button to ground, pull-up, low = pressed)', async () => {
  const { board, clock, door } = doorRig({
    rex: { type: 'gpio', pin: { chip: 'pinctrl-rp1', line: 22 }, activeLow: true, debounceMs: 50 },
  });
  board.drive(rp1(22), 1);
  const { rex } = door;
  if (!rex) throw new Error('the factory built no REX');
  return {
    button: rex,
    press: async () => {
      board.drive(rp1(22), 0);
      clock.advance(50);
      board.drive(rp1(22), 1);
      clock.advance(50);
    },
  };
});
