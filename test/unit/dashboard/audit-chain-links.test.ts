import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  checkpointSignatureValid,
  checkpointText,
  linkHash,
  signCheckpoint,
  ZERO_HASH,
} from '../../../src/dashboard/audit/chain-links.js';
import { CheckpointJob } from '../../../src/dashboard/audit/checkpoint-job.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const fields = {
  site: 'berlin',
  day: '2026-03-14',
  firstNo: 11,
  lastNo: 20,
  count: 10,
  prevHash: 'aa'.repeat(32),
  head: 'bb'.repeat(32),
  from: '2026-03-14T00:00:01.000Z',
  to: '2026-03-14T23:59:59.000Z',
};

describe('chain links and checkpoints', () => {
  it('links with sha256(previous || digest), the first after 32 zero bytes', () => {
    const digest = createHash('sha256').update('row').digest();
    const expected = createHash('sha256')
      .update(Buffer.concat([ZERO_HASH, digest]))
      .digest();
    expect(linkHash(ZERO_HASH, digest).equals(expected)).toBe(true);
  });

  it('signs one canonical line that holds no more than numbers, hashes, times and the chain name', () => {
    expect(JSON.parse(checkpointText(fields))).toEqual({ type: 'identgate-checkpoint', v: 1, ...fields });
    expect(checkpointSignatureValid(signCheckpoint(fields, privateKey, publicKey), publicKey)).toBe(true);
  });

  it.each([
    ['count', 9],
    ['head', 'cc'.repeat(32)],
    ['lastNo', 21],
    ['to', '2026-03-15T00:00:00.000Z'],
  ])('refuses a checkpoint whose %s was changed after signing', (field, value) => {
    const signed: Checkpoint = { ...signCheckpoint(fields, privateKey, publicKey), [field]: value };
    expect(checkpointSignatureValid(signed, publicKey)).toBe(false);
  });
});

describe('checkpoint job', () => {
  it('signs at start and every hour, and a failure is logged and retried the next hour', async () => {
    const clock = new FakeClock(0);
    const lines: string[] = [];
    const log = createLogger({ level: 'error', format: 'json', write: (line) => lines.push(line) });
    let calls = 0;
    const job = new CheckpointJob(
      {
        checkpointFinishedDays: async () => {
          calls += 1;
          if (calls === 2) throw new Error('gap in chain berlin');
          return [];
        },
      },
      clock,
      log,
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    job.start();
    clock.advance(0);
    await settle();
    expect(calls).toBe(1);
    clock.advance(3_600_000);
    await settle();
    expect(calls).toBe(2);
    expect(lines.join('\n')).toContain('gap in chain berlin');
    clock.advance(3_600_000);
    await settle();
    expect(calls).toBe(3);
    await job.stop();
    clock.advance(3_600_000);
    expect(calls).toBe(3);
  });
});
