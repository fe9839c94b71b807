import { DeviceError, DeviceErrorCode, errnoCode, GPIO_UDEV_RULE } from './device-errors.js';
import type { GpioConstructor, GpioDirection, GpioEdge, GpioLine } from './gpio-backend.js';
import { describePin, type GpioPinRef, resolveGpioPin } from './gpio-pins.js';

/** Where GPIO lines come from: onoff's Gpio in production, a fake class and a temporary sysfs tree in tests. */
export interface GpioContext {
  Gpio: GpioConstructor;
  sysfsRoot: string;
}

/**
 * Resolves and opens one line, turning sysfs failures into errors an installer can act on. The
 * adapters always pass activeLow: false and invert in code, so that a stale active_low left in
 * sysfs by another program can never flip a relay.
 */
export function openGpioLine(
  context: GpioContext,
  device: string,
  pin: GpioPinRef,
  direction: GpioDirection,
  edge: GpioEdge,
): GpioLine {
  const number = resolveGpioPin(pin, context.sysfsRoot);
  const what = `${device}: ${describePin(pin)} (sysfs GPIO ${number})`;
  if (!context.Gpio.accessible) {
    throw new DeviceError(
      DeviceErrorCode.gpioAccessDenied,
      `${what}: cannot write /sys/class/gpio/export. Run the gateway in the gpio group ` +
        `(SupplementaryGroups=gpio) and, where the OS has no rule for it, install ${GPIO_UDEV_RULE}`,
    );
  }
  try {
    return new context.Gpio(number, direction, edge, { activeLow: false, reconfigureDirection: true });
  } catch (error) {
    const code = errnoCode(error);
    const message = error instanceof Error ? error.message : String(error);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new DeviceError(
        DeviceErrorCode.gpioAccessDenied,
        `${what}: permission denied (${message}); see ${GPIO_UDEV_RULE}`,
        { cause: error },
      );
    }
    if (code === 'EBUSY') {
      throw new DeviceError(
        DeviceErrorCode.gpioBusy,
        `${what} is in use by a kernel driver or another program (a dtoverlay, gpio-keys, libgpiod); free it or pick another pin`,
        { cause: error },
      );
    }
    if (code === 'EINVAL') {
      throw new DeviceError(
        DeviceErrorCode.gpioPinNotFound,
        `${what}: the kernel refused this GPIO (${message})`,
        {
          cause: error,
        },
      );
    }
    throw new DeviceError(DeviceErrorCode.gpioIo, `${what}: ${message}`, { cause: error });
  }
}
