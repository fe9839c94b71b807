import Type, { type Static } from 'typebox';
import { strict } from './schema-parts.js';

/**
 * How each device of a door is provided. Every role accepts `simulated`; hardware adapters add
 * their own variants beside it (USB HID readers and keypads, GPIO lines).
 */
export const SimulatedDevice = Type.Object({ type: Type.Literal('simulated') }, strict);

export const ReaderDeviceConfig = SimulatedDevice;
export const KeypadDeviceConfig = SimulatedDevice;
export const LockDeviceConfig = SimulatedDevice;
export const ContactDeviceConfig = SimulatedDevice;
export const ExitButtonDeviceConfig = SimulatedDevice;
export const IndicatorDeviceConfig = SimulatedDevice;

export const DoorDevicesConfig = Type.Object(
  {
    entryReader: ReaderDeviceConfig,
    keypad: KeypadDeviceConfig,
    lock: LockDeviceConfig,
    contact: ContactDeviceConfig,
    exitReader: Type.Optional(ReaderDeviceConfig),
    rex: Type.Optional(ExitButtonDeviceConfig),
    indicator: Type.Optional(IndicatorDeviceConfig),
  },
  strict,
);
export type DoorDevicesConfig = Static<typeof DoorDevicesConfig>;
