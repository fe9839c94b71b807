import { describe, expect, it } from 'vitest';
import { brokerLimits } from '../../../src/cli/broker-limit-options.js';
import { resolveOptions } from '../../../src/dashboard/ingest/mqtt-subscriber-options.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { MIN_CLIENT_EXPIRATION_SECONDS } from '../../../src/pki/mosquitto-config.js';

const usageError = (message: RegExp) =>
  expect.objectContaining({ code: 'IDG_CLI_USAGE', message: expect.stringMatching(message) });

describe('the broker limit options of pki mosquitto-config', () => {
  it('default to 1,000,000 messages, 1 GiB and 14 days', () => {
    expect(brokerLimits({})).toEqual({
      maxQueuedMessages: 1_000_000,
      maxQueuedBytes: 1_073_741_824,
      persistentClientExpiration: '14d',
    });
  });

  it('take a byte count in bytes or in KiB, MiB or GiB, 0 being no limit', () => {
    const bytes = (text: string) => brokerLimits({ 'max-queued-bytes': text }).maxQueuedBytes;
    expect(bytes('0')).toBe(0);
    expect(bytes('65536')).toBe(65_536);
    expect(bytes('64KiB')).toBe(65_536);
    expect(bytes('512MiB')).toBe(536_870_912);
    expect(bytes('1GiB')).toBe(1_073_741_824);
    expect(bytes('2147483647')).toBe(2_147_483_647);
  });

  it('refuse a byte count Mosquitto would misread: a unit it does not know, or beyond a 32-bit int', () => {
    // Mosquitto 2.0 reads `1G` as 1 byte and 4294967297 as 1: both start the broker without a word.
    for (const text of ['1G', '1GB', '2GiB', '4294967297', '-1', '1.5MiB', ''])
      expect(() => brokerLimits({ 'max-queued-bytes': text })).toThrow(
        usageError(/^--max-queued-bytes must be from 0 \(no limit\) to 2147483647 bytes .*, got "/),
      );
  });

  it('take a message count from 0 (no limit) to 2147483647', () => {
    expect(brokerLimits({ 'max-queued-messages': '0' }).maxQueuedMessages).toBe(0);
    expect(brokerLimits({ 'max-queued-messages': '5000000' }).maxQueuedMessages).toBe(5_000_000);
    for (const text of ['1e6', '1,000,000', '-5', '2147483648'])
      expect(() => brokerLimits({ 'max-queued-messages': text })).toThrow(
        usageError(/^--max-queued-messages must be a whole number from 0 \(no limit\) to 2147483647, got "/),
      );
  });

  it("take Mosquitto's durations from 7 days up, written back without leading zeros", () => {
    const expiration = (text: string) =>
      brokerLimits({ 'persistent-client-expiration': text }).persistentClientExpiration;
    expect(expiration('7d')).toBe('7d');
    expect(expiration('168h')).toBe('168h');
    expect(expiration('2w')).toBe('2w');
    expect(expiration('1m')).toBe('1m');
    expect(expiration('68y')).toBe('68y');
    expect(expiration('014d')).toBe('14d');
  });

  it('refuse a duration Mosquitto would refuse, misread or overflow, and one shorter than 7 days', () => {
    // `14` and `14s` stop Mosquitto at start; `1.5d` it reads as 1d; 69y overflows its int.
    for (const text of ['14', '14s', '14D', '1.5d', '0d', '6d', '167h', '69y', 'never'])
      expect(() => brokerLimits({ 'persistent-client-expiration': text })).toThrow(
        usageError(/^--persistent-client-expiration must be .* from 7d .* to 68y, got "/),
      );
  });

  it('name every wrong option in one error', () => {
    expect(() =>
      brokerLimits({
        'max-queued-messages': 'many',
        'max-queued-bytes': '1G',
        'persistent-client-expiration': '1d',
      }),
    ).toThrow(
      usageError(/^--max-queued-messages .*\n--max-queued-bytes .*\n--persistent-client-expiration .*$/),
    );
  });

  it("keep the shortest expiration at the session the dashboard's ingest asks for", () => {
    const ingest = resolveOptions({
      url: 'mqtt://broker.example:1883',
      clientId: 'dashboard-1',
      subscriptions: [{ topic: 'identgate/v1/+/+/events', qos: 1 }],
      log: silentLogger,
    });
    expect(MIN_CLIENT_EXPIRATION_SECONDS).toBe(ingest.sessionExpirySeconds);
  });
});
