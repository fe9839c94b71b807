import Type, { type Static } from 'typebox';
import { strict } from './schema-parts.js';

/**
 * How each device of a door is provided. Every role accepts `simulated` (the demo's devices,
 * driven by `identgate sim`); readers and keypads add USB HID variants, the lock, contact,
 * exit button and indicator GPIO variants. The `type` key picks the variant.
 */
export const SimulatedDevice = Type.Object(
  { type: Type.Literal('simulated') },
  { ...strict, description: 'a simulated device: { type: simulated }' },
);

const UsbId = (what: string) =>
  Type.Integer({
    minimum: 0,
    maximum: 0xffff,
    description: `the USB ${what} id as \`lsusb\` shows it, written 0x…`,
  });

/** Which USB HID device: by USB id, optionally narrowed when several identical readers are attached. */
const HidSelection = {
  serialNumber: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'the USB serial number, when several readers share one USB id',
    }),
  ),
  path: Type.Optional(
    Type.String({
      pattern: '^/dev/',
      description:
        'a fixed device node: tells apart readers without a USB serial number; best a udev link by USB port such as /dev/identgate-entry-reader (a /dev/hidrawN number can change on replug)',
    }),
  ),
  interface: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 255,
      description: 'the USB interface number, for composite devices',
    }),
  ),
  reportId: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 255,
      description: 'the report id that prefixes each report, if any',
    }),
  ),
  retryInitialMs: Type.Integer({
    minimum: 50,
    maximum: 60_000,
    default: 500,
    description: 'first reconnect delay after the device went away; doubles up to retryMaxMs',
  }),
  retryMaxMs: Type.Integer({
    minimum: 1000,
    maximum: 600_000,
    default: 30_000,
    description: 'longest reconnect delay',
  }),
};

const ProfileSelection = {
  profile: Type.Optional(
    Type.String({
      pattern: '^[a-z0-9][a-z0-9-]*$',
      description: 'a profile in hardware/profiles (file name without .yaml); found by USB id when omitted',
    }),
  ),
  vendorId: Type.Optional(UsbId('vendor')),
  productId: Type.Optional(UsbId('product')),
};

export const HidKeyboardReader = Type.Object(
  {
    type: Type.Literal('hid-keyboard'),
    vendorId: UsbId('vendor'),
    productId: UsbId('product'),
    ...HidSelection,
    interCharTimeoutMs: Type.Integer({
      minimum: 10,
      maximum: 5000,
      default: 200,
      description: 'a badge id also ends when no character follows within this time',
    }),
    minLength: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 4,
      description: 'shorter reads are discarded',
    }),
    maxLength: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 32,
      description: 'longer reads are discarded',
    }),
  },
  { ...strict, description: 'a keyboard-wedge USB reader: { type: hid-keyboard, vendorId, productId }' },
);

export const HidReportReader = Type.Object(
  {
    type: Type.Literal('hid-report'),
    ...ProfileSelection,
    ...HidSelection,
    badgeId: Type.Union([Type.Literal('facility-card'), Type.Literal('card')], {
      default: 'facility-card',
      description: 'how a Wiegand card becomes a badge id: "123-4567" (facility-card) or "4567" (card)',
    }),
  },
  { ...strict, description: 'a raw-report USB reader read through a profile: { type: hid-report, profile }' },
);

const KeypadEntry = {
  entryTimeoutMs: Type.Integer({
    minimum: 1000,
    maximum: 120_000,
    default: 10_000,
    description: 'a half-typed entry is cleared after this long without a key',
  }),
  maxDigits: Type.Integer({
    minimum: 1,
    maximum: 32,
    default: 12,
    description: 'longer entries are cleared',
  }),
};

export const HidKeyboardKeypad = Type.Object(
  {
    type: Type.Literal('hid-keyboard'),
    vendorId: UsbId('vendor'),
    productId: UsbId('product'),
    ...HidSelection,
    ...KeypadEntry,
  },
  { ...strict, description: 'a USB HID keypad: { type: hid-keyboard, vendorId, productId }' },
);

export const HidReportKeypad = Type.Object(
  { type: Type.Literal('hid-report'), ...ProfileSelection, ...HidSelection, ...KeypadEntry },
  { ...strict, description: "a reader's PIN pad sending Wiegand key frames: { type: hid-report, profile }" },
);

export const GpioPin = Type.Union(
  [
    Type.Integer({ minimum: 0, maximum: 4095 }),
    Type.Object(
      {
        chip: Type.String({
          minLength: 1,
          description: 'the gpiochip label, e.g. pinctrl-rp1 or pinctrl-bcm2711',
        }),
        line: Type.Integer({
          minimum: 0,
          maximum: 1023,
          description: 'the line offset (the BCM GPIO number on a Pi)',
        }),
      },
      strict,
    ),
  ],
  {
    description:
      '{ chip: <gpiochip label>, line: <offset> } such as { chip: pinctrl-rp1, line: 17 }, or a raw sysfs GPIO number',
  },
);

export const GpioLock = Type.Object(
  {
    type: Type.Literal('gpio'),
    pin: GpioPin,
    activeLow: Type.Boolean({
      default: false,
      description: 'true when the relay driver energises on a low pin',
    }),
    energised: Type.Union([Type.Literal('unlocked'), Type.Literal('locked')], {
      default: 'unlocked',
      description:
        'what an energised relay does: "unlocked" (fail-secure strike) or "locked" (fail-safe maglock)',
    }),
  },
  { ...strict, description: 'a lock relay on a GPIO output: { type: gpio, pin, activeLow, energised }' },
);

const Debounce = Type.Integer({
  minimum: 0,
  maximum: 1000,
  default: 50,
  description: 'an input change counts once the line has been stable this long',
});

export const GpioContact = Type.Object(
  {
    type: Type.Literal('gpio'),
    pin: GpioPin,
    activeLow: Type.Boolean({
      default: false,
      description:
        'true when the input reads low while the door is open (false for a closed-loop contact to ground)',
    }),
    debounceMs: Debounce,
  },
  { ...strict, description: 'a door contact on a GPIO input: { type: gpio, pin, activeLow, debounceMs }' },
);

export const GpioExitButton = Type.Object(
  {
    type: Type.Literal('gpio'),
    pin: GpioPin,
    activeLow: Type.Boolean({
      default: true,
      description: 'true when the input reads low while pressed (a button to ground with a pull-up)',
    }),
    debounceMs: Debounce,
  },
  {
    ...strict,
    description: 'a request-to-exit button on a GPIO input: { type: gpio, pin, activeLow, debounceMs }',
  },
);

const GpioOutput = Type.Object(
  {
    pin: GpioPin,
    activeLow: Type.Boolean({
      default: false,
      description: 'true when the output is on while the pin is low',
    }),
  },
  strict,
);

export const GpioIndicator = Type.Object(
  {
    type: Type.Literal('gpio'),
    green: Type.Optional(GpioOutput),
    red: Type.Optional(GpioOutput),
    buzzer: Type.Optional(GpioOutput),
  },
  {
    ...strict,
    minProperties: 2,
    description:
      'reader LEDs and buzzer on GPIO outputs: { type: gpio, green?, red?, buzzer? } with at least one',
  },
);

export const ReaderDeviceConfig = Type.Union([SimulatedDevice, HidKeyboardReader, HidReportReader]);
export const KeypadDeviceConfig = Type.Union([SimulatedDevice, HidKeyboardKeypad, HidReportKeypad]);
export const LockDeviceConfig = Type.Union([SimulatedDevice, GpioLock]);
export const ContactDeviceConfig = Type.Union([SimulatedDevice, GpioContact]);
export const ExitButtonDeviceConfig = Type.Union([SimulatedDevice, GpioExitButton]);
export const IndicatorDeviceConfig = Type.Union([SimulatedDevice, GpioIndicator]);

export type ReaderDeviceConfig = Static<typeof ReaderDeviceConfig>;
export type KeypadDeviceConfig = Static<typeof KeypadDeviceConfig>;
export type LockDeviceConfig = Static<typeof LockDeviceConfig>;
export type ContactDeviceConfig = Static<typeof ContactDeviceConfig>;
export type ExitButtonDeviceConfig = Static<typeof ExitButtonDeviceConfig>;
export type IndicatorDeviceConfig = Static<typeof IndicatorDeviceConfig>;
export type GpioPin = Static<typeof GpioPin>;

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
