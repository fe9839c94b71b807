import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import Type, { type Static } from 'typebox';
import { ConfigError } from '../../config/config-error.js';
import { loadConfigFile } from '../../config/load-config.js';
import { strict } from '../../config/schema-parts.js';
import { DeviceError, DeviceErrorCode } from './device-errors.js';
import { hex } from './hid-backend.js';

/**
 * Device profiles (hardware/profiles/*.yaml): what a reader model is (USB ids) and, for readers
 * that send raw reports instead of typing, where the card data sits in each report. Validated
 * like configuration, so a broken profile names its file, line and key.
 */
const UsbId = (what: string) =>
  Type.Integer({ minimum: 0, maximum: 0xffff, description: `the USB ${what} id, e.g. 0x1234` });

const ByteRange = Type.Object(
  {
    offset: Type.Integer({
      minimum: 0,
      maximum: 63,
      description: 'the first byte, counted after the report id',
    }),
    length: Type.Integer({ minimum: 1, maximum: 8, description: 'how many bytes (1 to 8)' }),
  },
  strict,
);

const FrameFormat = Type.Union(
  [
    Type.Literal('h10301'),
    Type.Literal('h10306'),
    Type.Literal('c1k35'),
    Type.Literal('h10304'),
    Type.Literal('h10302'),
    Type.Literal('keypad-4'),
    Type.Literal('keypad-8'),
  ],
  { description: 'a card format or keypad frame' },
);

export const WiegandPayload = Type.Object(
  {
    kind: Type.Literal('wiegand'),
    bitCount: Type.Union(
      [
        Type.Object({ offset: Type.Integer({ minimum: 0, maximum: 63 }) }, strict),
        Type.Object({ fixed: Type.Integer({ minimum: 4, maximum: 64 }) }, strict),
      ],
      { description: '{ offset: <byte holding the number of bits> } or { fixed: <bits in every frame> }' },
    ),
    data: ByteRange,
    align: Type.Union([Type.Literal('right'), Type.Literal('left')], {
      default: 'right',
      description:
        'right: the last frame bit is the lowest bit of the last byte; left: the first is the highest of the first',
    }),
    formats: Type.Array(FrameFormat, {
      minItems: 1,
      description: 'the card and key formats to accept, tried in order',
    }),
  },
  { ...strict, description: 'a Wiegand frame: bit count, data bytes, alignment, formats' },
);

export const NumberPayload = Type.Object(
  {
    kind: Type.Literal('number'),
    data: ByteRange,
    byteOrder: Type.Union([Type.Literal('big-endian'), Type.Literal('little-endian')], {
      default: 'big-endian',
    }),
    render: Type.Union([Type.Literal('decimal'), Type.Literal('hex')], {
      default: 'decimal',
      description: 'how the number becomes a badge id',
    }),
    digits: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 20, description: 'pad with leading zeros to this many digits' }),
    ),
  },
  { ...strict, description: 'a card number as an unsigned integer of 1 to 8 bytes' },
);

const ProfileCommon = {
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'the file name without .yaml' }),
  name: Type.String({ minLength: 1 }),
  source: Type.Object(
    {
      layout: Type.Union(
        [
          Type.Literal('vendor-documented'),
          Type.Literal('community-documented'),
          Type.Literal('identgate-defined'),
          Type.Literal('typical'),
        ],
        { description: 'how sure the layout is' },
      ),
      notes: Type.String({ minLength: 1, description: 'where the layout comes from and what is unverified' }),
    },
    strict,
  ),
  match: Type.Array(
    Type.Object(
      { vendorId: UsbId('vendor'), productId: UsbId('product'), description: Type.Optional(Type.String()) },
      strict,
    ),
    { description: 'the USB ids of the models this profile describes (may be empty for a generic layout)' },
  ),
};

/** Keyboard-wedge models are listed for the udev rules and the installer; they need no layout. */
export const KeyboardProfile = Type.Object(
  { ...ProfileCommon, protocol: Type.Literal('keyboard') },
  { ...strict, description: 'a keyboard-wedge reader (protocol: keyboard)' },
);

export const ReportProfile = Type.Object(
  {
    ...ProfileCommon,
    protocol: Type.Literal('report'),
    reportId: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 255,
        description: 'the report id that prefixes each report, if any',
      }),
    ),
    payload: Type.Union([WiegandPayload, NumberPayload]),
  },
  { ...strict, description: 'a raw-report reader (protocol: report) with its payload layout' },
);

export const ReaderProfile = Type.Union([KeyboardProfile, ReportProfile]);
export type ReaderProfile = Static<typeof ReaderProfile>;
export type ReportProfile = Static<typeof ReportProfile>;
export type WiegandPayload = Static<typeof WiegandPayload>;
export type NumberPayload = Static<typeof NumberPayload>;

/** Loads one profile file; every problem names the file, the line and the key. */
export function loadReaderProfile(file: string): ReaderProfile {
  const profile = loadConfigFile(file, ReaderProfile, { env: {} });
  const problems: string[] = [];
  const expectedId = basename(file).replace(/\.ya?ml$/, '');
  if (profile.id !== expectedId)
    problems.push(`id: must be the file name "${expectedId}", got "${profile.id}"`);
  if (profile.protocol === 'report') {
    const { payload } = profile;
    const end = payload.data.offset + payload.data.length;
    if (payload.kind === 'wiegand' && 'offset' in payload.bitCount) {
      const at = payload.bitCount.offset;
      if (at >= payload.data.offset && at < end)
        problems.push('payload.bitCount.offset: must not lie inside payload.data');
    }
    if (
      payload.kind === 'wiegand' &&
      'fixed' in payload.bitCount &&
      payload.bitCount.fixed > payload.data.length * 8
    )
      problems.push(
        `payload.bitCount.fixed: ${payload.bitCount.fixed} bits do not fit in ${payload.data.length} bytes`,
      );
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return profile;
}

/** Loads every profile in a directory (hardware/profiles), sorted by file name. */
export function loadReaderProfiles(dir: string): ReaderProfile[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  } catch (error) {
    throw new DeviceError(DeviceErrorCode.profileNotFound, `cannot read the reader profiles in ${dir}`, {
      cause: error,
    });
  }
  return files.sort().map((f) => loadReaderProfile(join(dir, f)));
}

export interface ProfileQuery {
  profile?: string;
  vendorId?: number;
  productId?: number;
}

/** The profile a device configuration names, or the one whose USB ids match it. */
export function findReaderProfile(profiles: readonly ReaderProfile[], query: ProfileQuery): ReaderProfile {
  const known = profiles.map((p) => p.id).join(', ') || 'none';
  if (query.profile !== undefined) {
    const named = profiles.find((p) => p.id === query.profile);
    if (!named)
      throw new DeviceError(
        DeviceErrorCode.profileNotFound,
        `no reader profile "${query.profile}" (known: ${known})`,
      );
    return named;
  }
  const matching = profiles.find((p) =>
    p.match.some((m) => m.vendorId === query.vendorId && m.productId === query.productId),
  );
  if (!matching) {
    const ids = `${hex(query.vendorId)}:${hex(query.productId)}`;
    throw new DeviceError(
      DeviceErrorCode.profileNotFound,
      `no reader profile matches USB id ${ids}; name one with \`profile:\` (known: ${known})`,
    );
  }
  return matching;
}
