import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { KeyStroke } from './hid-usage-table.js';

/**
 * Collects the digits a person types on a keypad into one entry: `#` or Enter submits, `*` or
 * Escape clears, Backspace removes the last digit, and an entry left half-typed for the entry
 * timeout is cleared so that the next person does not continue someone else's code.
 */
export interface KeypadAssemblerOptions {
  clock: Clock;
  entryTimeoutMs: number;
  maxDigits: number;
}

export interface KeypadAssemblerSink {
  entry(digits: string): void;
  cleared(reason: string): void;
}

export class KeypadAssembler {
  private digits = '';
  private timer: TimerHandle | undefined;

  constructor(
    private readonly options: KeypadAssemblerOptions,
    private readonly sink: KeypadAssemblerSink,
  ) {}

  key(stroke: KeyStroke): void {
    const key = stroke.kind === 'char' ? stroke.char : stroke.key;
    if (key === '#' || key === 'enter') {
      this.submit();
    } else if (key === '*' || key === 'escape') {
      this.clear('cleared by the user');
    } else if (key === 'backspace') {
      this.digits = this.digits.slice(0, -1);
      this.restartTimer();
    } else if (/^[0-9]$/.test(key)) {
      if (this.digits.length >= this.options.maxDigits) {
        this.clear(`more than ${this.options.maxDigits} digits`);
        return;
      }
      this.digits += key;
      this.restartTimer();
    }
  }

  /** Forgets a half-typed entry without reporting it (device gone, adapter stopped). */
  reset(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.digits = '';
  }

  private submit(): void {
    const digits = this.digits;
    this.reset();
    if (digits !== '') this.sink.entry(digits);
  }

  /** Forgets a half-typed entry and reports why (a timeout, the user, a badge presented). */
  clear(reason: string): void {
    const hadDigits = this.digits !== '';
    this.reset();
    if (hadDigits) this.sink.cleared(reason);
  }

  private restartTimer(): void {
    this.timer?.cancel();
    this.timer = this.options.clock.setTimeout(
      () => this.clear('entry timed out'),
      this.options.entryTimeoutMs,
    );
  }
}
