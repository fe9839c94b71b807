import { EventEmitter } from 'node:events';
import type { HidBackend, HidDeviceInfo, HidHandle } from '../../../../src/gateway/devices/hid-backend.js';

/** An open fake device; node-hid's HIDAsync is an EventEmitter too. */
export class FakeHidHandle extends EventEmitter implements HidHandle {
  closed = false;

  constructor(readonly path: string) {
    super();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export type FakeHidDevice = Omit<HidDeviceInfo, 'interface'> & { path: string; interface?: number };

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * A USB bus for tests: plug and unplug devices, refuse access, send input reports. It behaves
 * like node-hid on Linux: an unplugged device's open handles emit 'error'.
 */
export class FakeHidBackend implements HidBackend {
  readonly handles: FakeHidHandle[] = [];
  opens = 0;
  private readonly attached = new Map<string, HidDeviceInfo>();
  private readonly denied = new Set<string>();

  plug(device: FakeHidDevice): void {
    this.attached.set(device.path, { interface: 0, ...device });
  }

  unplug(path: string): void {
    this.attached.delete(path);
    for (const handle of this.openHandles(path))
      handle.emit('error', new Error('could not read from HID device'));
  }

  denyAccess(path: string, denied = true): void {
    if (denied) this.denied.add(path);
    else this.denied.delete(path);
  }

  /** Delivers one input report to every open handle of the device. */
  send(path: string, report: Uint8Array | readonly number[]): void {
    for (const handle of this.openHandles(path)) handle.emit('data', Buffer.from(report));
  }

  openHandles(path?: string): FakeHidHandle[] {
    return this.handles.filter((h) => !h.closed && (path === undefined || h.path === path));
  }

  async devices(): Promise<HidDeviceInfo[]> {
    return [...this.attached.values()];
  }

  async open(path: string): Promise<HidHandle> {
    this.opens++;
    if (this.denied.has(path)) throw errno('EACCES', `permission denied, access '${path}'`);
    if (!this.attached.has(path)) throw new Error(`cannot open device with path ${path}`);
    const handle = new FakeHidHandle(path);
    this.handles.push(handle);
    return handle;
  }
}

/** Lets pending promise callbacks (an open in flight) run; no time passes. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
