import { CodedError } from '../../lib/coded-error.js';

/** Every error a device adapter raises on purpose, with the code an installer can search for. */
export const DeviceErrorCode = {
  hidAccessDenied: 'IDG_HID_ACCESS_DENIED',
  hidNotConnected: 'IDG_HID_NOT_CONNECTED',
  hidIo: 'IDG_HID_IO',
  profileNotFound: 'IDG_PROFILE_NOT_FOUND',
  gpioSysfsUnavailable: 'IDG_GPIO_SYSFS_UNAVAILABLE',
  gpioChipNotFound: 'IDG_GPIO_CHIP_NOT_FOUND',
  gpioLineOutOfRange: 'IDG_GPIO_LINE_OUT_OF_RANGE',
  gpioPinNotFound: 'IDG_GPIO_PIN_NOT_FOUND',
  gpioAccessDenied: 'IDG_GPIO_ACCESS_DENIED',
  gpioBusy: 'IDG_GPIO_BUSY',
  gpioIo: 'IDG_GPIO_IO',
  deviceConfig: 'IDG_DEVICE_CONFIG',
} as const;
export type DeviceErrorCode = (typeof DeviceErrorCode)[keyof typeof DeviceErrorCode];

export class DeviceError extends CodedError {
  constructor(code: DeviceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DeviceError';
  }
}

/** The udev rule that gives the gateway's user access to the badge readers' hidraw nodes. */
export const HID_UDEV_RULE = 'hardware/udev/60-identgate-readers.rules';
/** The udev rule that gives the gpio group access to sysfs GPIO on systems that lack one. */
export const GPIO_UDEV_RULE = 'hardware/udev/61-identgate-gpio.rules';

/** The errno code of a Node.js system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}
