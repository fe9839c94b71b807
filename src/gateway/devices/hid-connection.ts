import { realpathSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { DeviceError, DeviceErrorCode, errnoCode, HID_UDEV_RULE } from './device-errors.js';
import type { DeviceHealth } from './device-ports.js';
import { type HidBackend, type HidDeviceInfo, type HidHandle, hex } from './hid-backend.js';
import { type HidClaimant, HidClaims } from './hid-claims.js';

/**
 * One USB HID device, kept open: finds it by USB id, opens its hidraw node, passes every input
 * report on, and when it disappears or cannot be opened reports a fault once and retries with
 * capped exponential backoff on the injected clock until it is back. A node another role of the
 * gateway holds is not its device (hid-claims.ts): with no other match it is missing. Nodes are
 * claimed and opened by their real path, so a udev link and the hidraw node it points to (or two
 * links to one node) are one device, not two.
 */
export interface HidSelector {
  ids: ReadonlyArray<{ vendorId: number; productId: number }>;
  serialNumber?: string;
  /** A fixed hidraw path; hot-plug then only works if the node keeps its name. */
  path?: string;
  /** The USB interface number, for readers that expose several. */
  interface?: number;
  /** Prefer this HID collection when a device exposes several (e.g. page 1 usage 6, a keyboard). */
  prefer?: { usagePage: number; usage: number };
}

export interface HidConnectionOptions {
  name: string;
  selector: HidSelector;
  backend: HidBackend;
  clock: Clock;
  log: Logger;
  retryInitialMs: number;
  retryMaxMs: number;
  /** The hidraw nodes the gateway's HID roles hold; one for the whole gateway. Default: its own. */
  claims?: HidClaims;
  /** The one role that may read the same node: the reader whose PIN pad this keypad is, or back. */
  sharesWith?: string;
  /**
   * Same-door roles this one would be paired with as a reader and its PIN pad, had both selected
   * the device alike: when one of them holds the node, the fault says how to pair them.
   */
  partners?: readonly string[];
  /** The node a path names, links followed. Default: fs.realpathSync, or the path as written. */
  resolveNode?: (path: string) => string;
}

/** The hidraw node behind `path` (a udev link is followed); the path itself when it cannot be resolved. */
export function realNode(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // Missing or unreadable: nothing to follow, and open() reports why.
    return path;
  }
}

export class HidConnection {
  readonly reports: Signal<Uint8Array>;
  readonly health: Signal<DeviceHealth>;
  /** The device went away; whatever was half-read is void. */
  readonly lost: Signal<void>;
  private handle: HidHandle | undefined;
  private retry: TimerHandle | undefined;
  private running = false;
  private faultCode: string | undefined;
  private attempts = 0;
  /** Bumped by stop(), so that an open still in flight is closed instead of adopted. */
  private generation = 0;
  private readonly claims: HidClaims;
  private readonly claimant: HidClaimant;
  /** The node claimed for this connection: from the choice until it is lost, fails or stops. */
  private claimed: string | undefined;

  constructor(private readonly options: HidConnectionOptions) {
    const { name, log } = options;
    this.reports = new Signal(`${name}.reports`, log);
    this.health = new Signal(`${name}.health`, log);
    this.lost = new Signal(`${name}.lost`, log);
    this.claims = options.claims ?? new HidClaims();
    this.claimant = { name, sharesWith: options.sharesWith };
  }

  get connected(): boolean {
    return this.handle !== undefined;
  }

  /** Resolves after the first attempt, connected or not: a missing reader must not hold up the door. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    this.retry?.cancel();
    this.retry = undefined;
    const handle = this.handle;
    this.handle = undefined;
    this.unclaim();
    if (handle) await this.close(handle);
  }

  private async connect(): Promise<void> {
    const generation = this.generation;
    let path = this.options.selector.path ?? '(not found)';
    let handle: HidHandle;
    try {
      path = this.claimAgain(await this.findPath(generation));
      handle = await this.options.backend.open(path);
    } catch (error) {
      if (generation !== this.generation) return;
      this.unclaim();
      this.fault(this.explainOpenError(error, path));
      this.scheduleRetry();
      return;
    }
    if (generation !== this.generation) {
      await this.close(handle);
      return;
    }
    this.handle = handle;
    handle.on('data', (data) => this.reports.emit(data));
    handle.on('error', (error) => this.deviceLost(handle, error));
    this.attempts = 0;
    this.options.log.info({ device: this.options.name, path }, 'HID device connected');
    if (this.faultCode !== undefined) {
      this.faultCode = undefined;
      this.health.emit({ device: this.options.name, state: 'ok' });
    }
  }

  /**
   * Chooses the device and claims its node, with no await in between: two roles never choose one
   * node. Returns the path as configured or listed; the claim is on the node it resolves to.
   */
  private async findPath(generation: number): Promise<string> {
    const { selector, name } = this.options;
    if (selector.path !== undefined) {
      this.claimNode(selector.path);
      return selector.path;
    }
    const all = await this.options.backend.devices();
    // Stopped while listing: claim nothing (the caller sees the new generation and gives up).
    if (generation !== this.generation) throw new Error(`${name}: stopped`);
    const candidates = all.filter(
      (d): d is HidDeviceInfo & { path: string } =>
        d.path !== undefined &&
        selector.ids.some((id) => id.vendorId === d.vendorId && id.productId === d.productId) &&
        (selector.serialNumber === undefined || d.serialNumber === selector.serialNumber) &&
        (selector.interface === undefined || d.interface === selector.interface),
    );
    // A device's preferred collection, when it has one, is the only one worth opening: its other
    // interfaces deliver nothing this role reads.
    const { prefer } = selector;
    const preferred = prefer
      ? candidates.filter((d) => d.usagePage === prefer.usagePage && d.usage === prefer.usage)
      : [];
    const eligible = (preferred.length > 0 ? preferred : candidates).map((d) => ({
      path: d.path,
      node: this.node(d.path),
    }));
    const chosen = eligible.find((d) => this.claims.heldAgainst(d.node, this.claimant) === undefined);
    if (chosen) {
      this.claim(chosen.node);
      return chosen.path;
    }
    if (eligible.length > 0) {
      throw this.heldBy(
        eligible.map((d) => ({ path: d.node, holder: this.claims.heldAgainst(d.node, this.claimant) })),
      );
    }
    const ids = selector.ids.map((id) => `${hex(id.vendorId)}:${hex(id.productId)}`).join(' or ');
    const serial = selector.serialNumber ? ` with serial number ${selector.serialNumber}` : '';
    throw new DeviceError(
      DeviceErrorCode.hidNotConnected,
      `${name}: no USB HID device ${ids}${serial} is connected`,
    );
  }

  private node(path: string): string {
    return (this.options.resolveNode ?? realNode)(path);
  }

  /** Claims the node `path` names and returns it, or throws when another role holds it. */
  private claimNode(path: string, node = this.node(path)): string {
    const holder = this.claims.heldAgainst(node, this.claimant);
    if (holder !== undefined) throw this.heldBy([{ path: node, holder }]);
    return this.claim(node);
  }

  /**
   * Resolves the chosen path once more just before its node is opened: a link re-pointed since the
   * choice (a replug, udev rules reloaded) must not open another role's node. Returns the node.
   */
  private claimAgain(path: string): string {
    const node = this.node(path);
    return node === this.claimed ? node : this.claimNode(path, node);
  }

  private claim(path: string): string {
    this.unclaim();
    this.claims.claim(path, this.claimant);
    this.claimed = path;
    return path;
  }

  private unclaim(): void {
    if (this.claimed !== undefined) this.claims.release(this.claimed, this.claimant);
    this.claimed = undefined;
  }

  /** Every matching node is another role's: as good as missing, and the message says how to fix it. */
  private heldBy(nodes: Array<{ path: string; holder: string | undefined }>): DeviceError {
    const partners = this.options.partners ?? [];
    const partner = nodes.find((n) => n.holder !== undefined && partners.includes(n.holder));
    if (partner) {
      return new DeviceError(
        DeviceErrorCode.hidNotConnected,
        `${this.options.name}: its device ${partner.path} is held by ${partner.holder} of the same door, ` +
          "and the two are not paired as a reader and its PIN pad. If this is that reader's own PIN pad, " +
          'select both the same way: the same profile or its USB ids, serialNumber, interface and path ' +
          '(docs/install-gateway.md, "Several readers of one model"); if not, give each its own device',
      );
    }
    const held = [...new Set(nodes.map((n) => `${n.path} (held by ${n.holder ?? 'another role'})`))];
    return new DeviceError(
      DeviceErrorCode.hidNotConnected,
      `${this.options.name}: no USB HID device of its own is connected; the one it matches is another ` +
        `role's: ${held.join(', ')}. Give each reader its serialNumber, or its path where the readers ` +
        'have no USB serial number (docs/install-gateway.md, "Several readers of one model")',
    );
  }

  private explainOpenError(error: unknown, path: string): DeviceError {
    if (error instanceof DeviceError) return error;
    const { name, selector } = this.options;
    const message = error instanceof Error ? error.message : String(error);
    if (errnoCode(error) === 'EACCES' || /permission denied/i.test(message)) {
      const ids = selector.ids.map((id) => `${hex(id.vendorId)}:${hex(id.productId)}`).join(', ');
      return new DeviceError(
        DeviceErrorCode.hidAccessDenied,
        `${name}: permission denied opening ${path}. Install the udev rule ${HID_UDEV_RULE} ` +
          `(it must list USB id ${ids}) as /etc/udev/rules.d/60-identgate-readers.rules, make sure the ` +
          'gateway runs as a member of the identgate group, then run `udevadm control --reload-rules && ' +
          'udevadm trigger` or replug the reader',
        { cause: error },
      );
    }
    if (errnoCode(error) === 'ENOENT') {
      return new DeviceError(DeviceErrorCode.hidNotConnected, `${name}: ${path} does not exist`, {
        cause: error,
      });
    }
    return new DeviceError(DeviceErrorCode.hidIo, `${name}: cannot open ${path}: ${message}`, {
      cause: error,
    });
  }

  private deviceLost(handle: HidHandle, error: Error): void {
    if (this.handle !== handle) return;
    this.handle = undefined;
    this.unclaim();
    this.lost.emit();
    this.close(handle).catch((closeError: unknown) =>
      this.options.log.debug(
        { err: closeError, device: this.options.name },
        'closing a lost HID device failed',
      ),
    );
    this.fault(
      new DeviceError(DeviceErrorCode.hidIo, `${this.options.name}: device lost (${error.message})`, {
        cause: error,
      }),
    );
    this.scheduleRetry();
  }

  /** Reports a fault once per outage; a different cause during the outage is logged, not re-signalled. */
  private fault(error: DeviceError): void {
    const { log, name } = this.options;
    if (this.faultCode === error.code) {
      log.debug({ device: name, code: error.code }, 'HID device still unavailable');
      return;
    }
    // An expected condition (unplugged, no permission): the code and message say all, no stack.
    log.error({ device: name, code: error.code }, `HID device unavailable: ${error.message}`);
    const first = this.faultCode === undefined;
    this.faultCode = error.code;
    if (first) this.health.emit({ device: name, state: 'fault', message: error.message });
  }

  private scheduleRetry(): void {
    if (!this.running) return;
    const { retryInitialMs, retryMaxMs, clock, log, name } = this.options;
    const delay = Math.min(retryMaxMs, retryInitialMs * 2 ** this.attempts);
    this.attempts++;
    this.retry?.cancel();
    this.retry = clock.setTimeout(() => {
      this.retry = undefined;
      this.connect().catch((error: unknown) =>
        log.error({ err: error, device: name }, 'HID reconnect failed'),
      );
    }, delay);
  }

  private async close(handle: HidHandle): Promise<void> {
    const { log, name } = this.options;
    handle.removeAllListeners();
    // An EventEmitter without an 'error' listener throws; a late error from a closed device is noise.
    handle.on('error', (error) => log.debug({ err: error, device: name }, 'error from a closed HID device'));
    try {
      await handle.close();
    } catch (error) {
      log.debug({ err: error, device: name }, 'closing the HID device failed');
    }
  }
}
