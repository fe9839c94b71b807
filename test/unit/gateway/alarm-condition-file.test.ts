import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmBook, type HeldCondition } from '../../../src/controllers/alarm-book.js';
import { ALARM_CONDITIONS_FILE, AlarmConditionFile } from '../../../src/gateway/alarm-condition-file.js';
import { createLogger, silentLogger } from '../../../src/lib/logger.js';

const conditions: HeldCondition[] = [
  { alarm: 'door-held-open', key: 'door-held-open:main', severity: 'warning', door: 'main' },
  { alarm: 'outbox-filling', key: 'outbox-filling:critical', severity: 'critical' },
];

const freshDir = () => mkdtempSync(join(tmpdir(), 'idg-alarms-'));

describe('the alarm conditions file', () => {
  it('gives back the conditions written last', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    file.save(conditions);
    await file.flushed();
    expect(new AlarmConditionFile(dir, silentLogger).load()).toEqual({ conditions });
  });

  it('holds none on a first start, when there is no file', () => {
    expect(new AlarmConditionFile(freshDir(), silentLogger).load()).toEqual({
      conditions: [],
      missing: true,
    });
  });

  it('takes a file whose conditions no longer match their checksum for lost', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    file.save(conditions);
    await file.flushed();
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

  it('logs a write the disk refuses instead of throwing it at the alarm, which goes on', async () => {
    const dir = freshDir();
    // A directory where the file should be: the rename onto it fails.
    mkdirSync(join(dir, ALARM_CONDITIONS_FILE, 'in-the-way'), { recursive: true });
    const lines: string[] = [];
    const log = createLogger({ level: 'error', format: 'json', write: (line) => lines.push(line) });
    const file = new AlarmConditionFile(dir, log);
    const told: string[] = [];
    expect(() => file.save(conditions)).not.toThrow();
    file.afterSaved(() => told.push('raised'));
    await file.flushed();
    expect(told).toEqual(['raised']);
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        msg: expect.stringContaining('could not write the alarm conditions'),
        conditions: ['door-held-open:main', 'outbox-filling:critical'],
      }),
    ]);
  });

  it('writes off the event loop, and lets an event through only once the list saved before it is on disk', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    const onDisk: unknown[] = [];
    const seen = () => onDisk.push(file.load());
    file.save(conditions.slice(0, 1));
    file.afterSaved(seen);
    // Nothing is written during the call: the decision that raised the alarm goes on at once.
    expect(file.load()).toEqual({ conditions: [], missing: true });
    expect(onDisk).toEqual([]);
    await file.flushed();
    expect(onDisk).toEqual([{ conditions: conditions.slice(0, 1) }]);
  });

  it('coalesces the lists saved while a write is under way: the newest is written, and every event waits for it', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    const onDisk: unknown[] = [];
    const seen = (label: string) => () => onDisk.push([label, file.load()]);
    file.save([]);
    file.afterSaved(seen('first'));
    file.save(conditions.slice(0, 1));
    file.afterSaved(seen('second'));
    file.save(conditions);
    file.afterSaved(seen('third'));
    await file.flushed();
    // The second list was never written: the third replaced it before its turn.
    expect(onDisk).toEqual([
      ['first', { conditions: [] }],
      ['second', { conditions }],
      ['third', { conditions }],
    ]);
  });

  it('loses no list saved before or after it is closed', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    file.save(conditions.slice(0, 1));
    file.save(conditions);
    await file.close();
    expect(file.load()).toEqual({ conditions });
    // Once closed (the gateway stops), a save is on disk when it returns.
    file.save([]);
    expect(file.load()).toEqual({ conditions: [] });
  });

  it('keeps a raising from the outbox until the book’s file holds it, and keeps the order of the book’s events', async () => {
    const dir = freshDir();
    const file = new AlarmConditionFile(dir, silentLogger);
    const told: Array<[string, unknown]> = [];
    const book = new AlarmBook(
      (event) => told.push([event.kind, (file.load() as { conditions: HeldCondition[] }).conditions.length]),
      file,
    );
    book.raise({ ...(conditions[0] as HeldCondition) });
    book.clear('door-held-open:main');
    expect(told).toEqual([]);
    await file.flushed();
    // Raised once on disk; cleared before it is forgotten there (the file may still hold it).
    expect(told[0]).toEqual(['alarm.raised', 1]);
    expect(told.map(([kind]) => kind)).toEqual(['alarm.raised', 'alarm.cleared']);
    expect(file.load()).toEqual({ conditions: [] });
  });
});
