import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import {
  findReaderProfile,
  loadReaderProfile,
  loadReaderProfiles,
  type ReaderProfile,
  type ReportProfile,
} from '../../../src/gateway/devices/reader-profiles.js';
import { ReportDecoder } from '../../../src/gateway/devices/report-decoder.js';
import { hasCode } from '../../../src/lib/coded-error.js';
import { hexFixture } from './helpers/hid-reports.js';

const PROFILES = 'hardware/profiles';

function reportProfile(profiles: ReaderProfile[], id: string): ReportProfile {
  const profile = profiles.find((p) => p.id === id);
  if (profile?.protocol !== 'report') throw new Error(`${id} is not a report profile`);
  return profile;
}

function brokenProfile(text: string, name = 'broken-reader.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'idg-profiles-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function problemsOf(fn: () => unknown): { file: string; problems: string[] } {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return { file: error.file, problems: error.problems };
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('shipped reader profiles', () => {
  const profiles = loadReaderProfiles(PROFILES);

  it('load and validate, at least three raw-report reader families among them', () => {
    expect(profiles.map((p) => p.id)).toEqual(
      readdirSync(PROFILES)
        .map((f) => f.replace('.yaml', ''))
        .sort(),
    );
    expect(profiles.filter((p) => p.protocol === 'report').length).toBeGreaterThanOrEqual(3);
  });

  it('each say how sure their layout is and where it comes from', () => {
    for (const profile of profiles) expect(profile.source.notes.length, profile.id).toBeGreaterThan(20);
  });

  it('are all covered by the udev rules, USB id by USB id', () => {
    const rules = readFileSync('hardware/udev/60-identgate-readers.rules', 'utf8');
    for (const { vendorId, productId } of profiles.flatMap((p) => p.match)) {
      const id = (n: number) => n.toString(16).padStart(4, '0');
      expect(rules).toContain(
        `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="${id(vendorId)}", ATTRS{idProduct}=="${id(productId)}", GROUP="identgate", MODE="0660"`,
      );
    }
  });

  it('are found by USB id or by name', () => {
    expect(findReaderProfile(profiles, { vendorId: 0x2341, productId: 0x8036 }).id).toBe(
      'wiegand-usb-bridge',
    );
    expect(findReaderProfile(profiles, { profile: 'em4100-raw-reader' }).id).toBe('em4100-raw-reader');
  });

  it('say which profiles exist when none matches', () => {
    expect(() => findReaderProfile(profiles, { vendorId: 0x1234, productId: 0x5678 })).toThrow(
      /no reader profile matches USB id 1234:5678; name one with `profile:` \(known: em4100-raw-reader, /,
    );
    expect(() => findReaderProfile(profiles, { profile: 'nope' })).toThrow(/no reader profile "nope"/);
  });

  describe('wiegand-usb-bridge', () => {
    const decoder = new ReportDecoder(reportProfile(profiles, 'wiegand-usb-bridge'));
    const [card, idle, badParity, key5, hash, key7, star] = hexFixture('wiegand-bridge.hex');

    it('reads an H10301 card as facility-card', () => {
      expect(decoder.decode(card as Uint8Array)).toEqual({ kind: 'badge', badge: '90-324' });
    });

    it('reads only the card number when configured so', () => {
      const cardOnly = new ReportDecoder(reportProfile(profiles, 'wiegand-usb-bridge'), 'card');
      expect(cardOnly.decode(card as Uint8Array)).toEqual({ kind: 'badge', badge: '324' });
    });

    it('rejects a frame with wrong parity, with the reason', () => {
      expect(decoder.decode(badParity as Uint8Array)).toEqual({
        kind: 'ignored',
        reason: 'h10301: odd parity bit 25 does not match',
      });
    });

    it('ignores idle reports', () => {
      expect(decoder.decode(idle as Uint8Array)).toEqual({
        kind: 'ignored',
        reason: 'empty report (no frame)',
      });
    });

    it('reads keypad bursts as keys', () => {
      const keys = [key5, hash, key7, star].map((r) => decoder.decode(r as Uint8Array));
      expect(keys.map((k) => (k.kind === 'key' && k.key.kind === 'char' ? k.key.char : k.kind))).toEqual([
        '5',
        '#',
        '7',
        '*',
      ]);
    });

    it('ignores a report too short for the layout', () => {
      expect(decoder.decode(Uint8Array.of(26, 0, 0))).toEqual({
        kind: 'ignored',
        reason: 'report has 3 bytes, the profile reads up to byte 8',
      });
    });
  });

  it('em4100-raw-reader renders the 32-bit tag id as the ten digits keyboard readers type', () => {
    const decoder = new ReportDecoder(reportProfile(profiles, 'em4100-raw-reader'));
    // Tag 0013110988 = 0x00c80ecc.
    expect(decoder.decode(Uint8Array.of(0x01, 0x0a, 0x00, 0xc8, 0x0e, 0xcc))).toEqual({
      kind: 'badge',
      badge: '0013110988',
    });
  });

  it('mifare-uid-raw-reader renders a little-endian UID as hex, most significant first', () => {
    const decoder = new ReportDecoder(reportProfile(profiles, 'mifare-uid-raw-reader'));
    expect(decoder.decode(Uint8Array.of(0x01, 0x04, 0x78, 0x56, 0x34, 0x12))).toEqual({
      kind: 'badge',
      badge: '12345678',
    });
    expect(decoder.decode(Uint8Array.of(0x02, 0x04, 0x78, 0x56, 0x34, 0x12))).toEqual({
      kind: 'ignored',
      reason: 'report id 2 is not 1',
    });
  });
});

describe('a broken profile file', () => {
  const valid = readFileSync(join(PROFILES, 'wiegand-usb-bridge.yaml'), 'utf8');

  it('names the file, the line and the key', () => {
    const file = brokenProfile(valid.replace('align: right', 'align: middle'), 'wiegand-usb-bridge.yaml');
    const found = problemsOf(() => loadReaderProfile(file));
    expect(found.file).toBe(file);
    expect(found.problems).toEqual([expect.stringMatching(/^line \d+: payload\.align: must be /)]);
  });

  it('names an unknown Wiegand format', () => {
    const file = brokenProfile(valid.replace('h10306, ', 'h99999, '), 'wiegand-usb-bridge.yaml');
    expect(problemsOf(() => loadReaderProfile(file)).problems).toEqual([
      expect.stringMatching(/payload\.formats\[1\]: must be one of "h10301", "h10306", .*got "h99999"/),
    ]);
  });

  it('names a missing key', () => {
    const file = brokenProfile(valid.replace(/^name: .*$/m, ''), 'wiegand-usb-bridge.yaml');
    expect(problemsOf(() => loadReaderProfile(file)).problems).toEqual([
      expect.stringMatching(/name: is required/),
    ]);
  });

  it('must carry its file name as its id', () => {
    const file = brokenProfile(valid, 'other-name.yaml');
    expect(problemsOf(() => loadReaderProfile(file)).problems).toEqual([
      'id: must be the file name "other-name", got "wiegand-usb-bridge"',
    ]);
  });

  it('stops loading the whole directory with the same error', () => {
    const file = brokenProfile('id: [unclosed\n');
    expect(() => loadReaderProfiles(join(file, '..'))).toThrow(new RegExp(`^${file}: `));
  });

  it('a missing profile directory is a coded error', () => {
    let caught: unknown;
    try {
      loadReaderProfiles('/nonexistent/profiles');
    } catch (error) {
      caught = error;
    }
    expect(hasCode(caught, 'IDG_PROFILE_NOT_FOUND')).toBe(true);
  });
});
