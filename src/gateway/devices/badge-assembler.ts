import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { KeyStroke } from './hid-usage-table.js';

/**
 * Collects the characters a keyboard-wedge reader types into one badge id. The id ends at Enter
 * or, for readers configured without a terminator, when no character follows within the
 * inter-character timeout. Too short, too long or odd characters discard the read with a reason:
 * a stray key press or line noise must never become a badge.
 */
export interface BadgeAssemblerOptions {
  clock: Clock;
  interCharTimeoutMs: number;
  minLength: number;
  maxLength: number;
}

export interface BadgeAssemblerSink {
  badge(id: string): void;
  discarded(reason: string): void;
}

/** What a badge id may contain (the protocol's BadgeId). */
const BADGE_CHAR = /^[A-Za-z0-9:_-]$/;

export class BadgeAssembler {
  private text = '';
  private problem: string | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly options: BadgeAssemblerOptions,
    private readonly sink: BadgeAssemblerSink,
  ) {}

  key(stroke: KeyStroke): void {
    if (stroke.kind === 'control') {
      if (stroke.key === 'enter') this.finish();
      else if (stroke.key === 'escape') this.reset();
      return;
    }
    if (this.text.length >= this.options.maxLength) {
      this.problem ??= `longer than ${this.options.maxLength} characters`;
    } else if (!BADGE_CHAR.test(stroke.char)) {
      this.problem ??= `contains ${JSON.stringify(stroke.char)}, which a badge id cannot`;
    } else {
      this.text += stroke.char;
    }
    this.timer?.cancel();
    this.timer = this.options.clock.setTimeout(() => this.finish(), this.options.interCharTimeoutMs);
  }

  /** Drops a half-read id without reporting it. */
  reset(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.text = '';
    this.problem = undefined;
  }

  private finish(): void {
    const { text, problem } = this;
    this.reset();
    if (text === '' && problem === undefined) return;
    if (problem !== undefined) this.sink.discarded(`read discarded: ${problem}`);
    else if (text.length < this.options.minLength)
      this.sink.discarded(`read discarded: ${text.length} characters, fewer than ${this.options.minLength}`);
    else this.sink.badge(text);
  }
}
