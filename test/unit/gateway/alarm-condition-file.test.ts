import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HeldCondition } from '../../../src/controllers/alarm-book.js';
import { ALARM_CONDITIONS_FILE, AlarmConditionFile } from '../../../src/gateway/alarm-condition-file.js';
import { createLogger, silentLogger } from '../../../src/lib/logger.js';

const conditions: HeldCondition[] = [
  { alarm: 'door-held-open', key: 'door-held-open:main', severity: 'warning', door: 'main' },
  { alarm: 'outbox-filling', key: 'outbox-filling:critical', severity: 'critical' },
];

const freshDir = () => mkdtempSync(join(tmpdir(), 'idg-alarms-'));

describe('the alarm conditions file', () => {
  it('gives back the conditions written last', () => {
    const dir = freshDir();
    new AlarmConditionFile(dir, silentLogger).save(conditions);
    expect(new AlarmConditionFile(dir, silentLogger).load()).toEqual({ conditions });
  });

  it('holds none on a first start, when there is no file', () => {
    expect(new AlarmConditionFile(freshDir(), silentLogger).load()).toEqual({
      conditions: [],
      missing: true,
    });
  });

  it('takes a file whose conditions no longer match their checksum for lost', () => {
    const dir = freshDir();
    new AlarmConditionFile(dir, silentLogger).save(conditions);
    const path = join(dir, ALARM_CONDITIONS_FILE);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"warning"', '"critical"'));
    expect(new AlarmConditionFile(dir, silentLogger).load()).toEqual({
      lost: 'the file does not match its checksum',
    });
  });

  it('takes a file that is cut short or of another shape for lost, and says why', () => {
    const dir = freshDir();
    const path = join(dir, ALARM_CONDITIONS_FILE);
    writeFileSync(path, '{"conditions":[{"alarm":"door-');
    expect(new AlarmConditionFile(dir, silentLogger).load()).toEqual({
      lost: expect.stringContaining('the file is not JSON'),
    });
    writeFileSync(
      path,
      JSON.stringify({ conditions: [{ alarm: 'no-such-alarm', key: 'x' }], check: '00000000' }),
    );
    expect(new AlarmConditionFile(dir, silentLogger).load()).toEqual({
      lost: expect.stringContaining('the file has an unexpected shape'),
    });
  });

  it('logs a write the disk refuses instead of throwing it at the alarm', () => {
    const dir = freshDir();
    // A directory where the file should be: the rename onto it fails.
    mkdirSync(join(dir, ALARM_CONDITIONS_FILE, 'in-the-way'), { recursive: true });
    const lines: string[] = [];
    const log = createLogger({ level: 'error', format: 'json', write: (line) => lines.push(line) });
    expect(() => new AlarmConditionFile(dir, log).save(conditions)).not.toThrow();
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        msg: expect.stringContaining('could not write the alarm conditions'),
        conditions: ['door-held-open:main', 'outbox-filling:critical'],
      }),
    ]);
  });
});
