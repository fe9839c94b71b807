import { describe, expect, it } from 'vitest';
import { BadgeAssembler } from '../../../src/gateway/devices/badge-assembler.js';
import { KeyboardReportDecoder } from '../../../src/gateway/devices/keyboard-report-decoder.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { ESCAPE, hexFixture, KEY_UP, keyReport, typed } from './helpers/hid-reports.js';

function reader(options: { interCharTimeoutMs?: number; minLength?: number; maxLength?: number } = {}) {
  const clock = new FakeClock();
  const badges: string[] = [];
  const discarded: string[] = [];
  const decoder = new KeyboardReportDecoder();
  const assembler = new BadgeAssembler(
    { clock, interCharTimeoutMs: 200, minLength: 4, maxLength: 32, ...options },
    { badge: (id) => badges.push(id), discarded: (reason) => discarded.push(reason) },
  );
  const feed = (reports: Uint8Array[]) => {
    for (const report of reports) for (const stroke of decoder.decode(report).strokes) assembler.key(stroke);
  };
  return { clock, badges, discarded, feed };
}

describe('keyboard-wedge badge assembly', () => {
  it('reads the ten digits and Enter an EM4100 reader types as one badge id', () => {
    const { badges, feed } = reader();
    feed(hexFixture('em4100-keyboard-0013110988.hex'));
    expect(badges).toEqual(['0013110988']);
  });

  it('ends a badge id at Enter without waiting for the timeout', () => {
    const { clock, badges, feed } = reader();
    feed(typed('4711ABCD'));
    expect(badges).toEqual(['4711ABCD']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('ends a badge id after the inter-character timeout when the reader sends no Enter', () => {
    const { clock, badges, feed } = reader({ interCharTimeoutMs: 200 });
    feed(typed('00047110', null));
    clock.advance(199);
    expect(badges).toEqual([]);
    clock.advance(1);
    expect(badges).toEqual(['00047110']);
  });

  it('keeps collecting while characters arrive within the timeout', () => {
    const { clock, badges, feed } = reader({ interCharTimeoutMs: 200 });
    feed(typed('1234', null));
    clock.advance(150);
    feed(typed('5678', null));
    clock.advance(200);
    expect(badges).toEqual(['12345678']);
  });

  it('reads two badges presented one after the other', () => {
    const { badges, feed } = reader();
    feed([...typed('11111111'), ...typed('22222222')]);
    expect(badges).toEqual(['11111111', '22222222']);
  });

  it('discards a read shorter than the minimum length, with the reason', () => {
    const { clock, badges, discarded, feed } = reader({ minLength: 4 });
    feed(typed('12', null));
    clock.advance(1000);
    expect(badges).toEqual([]);
    expect(discarded).toEqual(['read discarded: 2 characters, fewer than 4']);
  });

  it('discards a read longer than the maximum length', () => {
    const { badges, discarded, feed } = reader({ maxLength: 8 });
    feed(typed('123456789'));
    expect(badges).toEqual([]);
    expect(discarded).toEqual(['read discarded: longer than 8 characters']);
  });

  it('discards a read with a character a badge id cannot contain', () => {
    const { badges, discarded, feed } = reader();
    feed(typed('1234.5678'));
    expect(badges).toEqual([]);
    expect(discarded).toEqual(['read discarded: contains ".", which a badge id cannot']);
  });

  it('drops a half-read id at Escape', () => {
    const { clock, badges, discarded, feed } = reader();
    feed([...typed('1234', null), keyReport(0, ESCAPE), KEY_UP]);
    clock.advance(1000);
    expect(badges).toEqual([]);
    expect(discarded).toEqual([]);
  });

  it('produces no badge from noise', () => {
    const { clock, badges, discarded, feed } = reader();
    feed(hexFixture('noise.hex'));
    clock.advance(1000);
    expect(badges).toEqual([]);
    expect(discarded).toEqual([]);
  });
});
