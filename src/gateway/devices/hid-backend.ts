import { constants } from 'node:fs';
import { access } from 'node:fs/promises';

/**
 * The part of node-hid the adapters use, behind a seam so tests pass a fake. The real backend
 * loads node-hid (a native module) on first use, so simulated-only gateways never load it.
 */
export interface HidDeviceInfo {
  vendorId: number;
  productId: number;
  path?: string;
  serialNumber?: string;
  product?: string;
  interface: number;
  usagePage?: number;
  usage?: number;
}

/** An open device: node-hid's HIDAsync is one (it is an EventEmitter). */
export interface HidHandle {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  close(): Promise<void>;
}

export interface HidBackend {
  devices(): Promise<HidDeviceInfo[]>;
  open(path: string): Promise<HidHandle>;
}

/** A USB id as `lsusb` prints it: four lower-case hex digits. */
export function hex(id: number | undefined): string {
  return id === undefined ? '????' : id.toString(16).padStart(4, '0');
}

interface NodeHidModule {
  devicesAsync(): Promise<HidDeviceInfo[]>;
  HIDAsync: { open(path: string): Promise<HidHandle> };
}

export function nodeHidBackend(): HidBackend {
  let loaded: Promise<NodeHidModule> | undefined;
  const load = () => {
    loaded ??= import('node-hid').then((m) => ('default' in m ? m.default : m) as unknown as NodeHidModule);
    return loaded;
  };
  return {
    devices: async () => (await load()).devicesAsync(),
    async open(path) {
      // hidapi reports a refused open as text only; asking the file system first yields EACCES.
      if (path.startsWith('/dev/')) await access(path, constants.R_OK | constants.W_OK);
      return (await load()).HIDAsync.open(path);
    },
  };
}
