import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/logger.js';
import { reportUnhandledRejections } from '../../../src/lib/unhandled-rejections.js';

function rig(report: (error: Error) => void | Promise<void>) {
  const lines: Array<{ level: string; msg: string; err?: { message: string } }> = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(JSON.parse(line)) });
  const target = new EventEmitter();
  const undo = reportUnhandledRejections(log, report, target as unknown as NodeJS.Process);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { lines, target, undo, settle };
}

describe('unhandled promise rejections', () => {
  it('logs each at error and reports it, a non-Error reason as an Error', async () => {
    const reported: string[] = [];
    const { lines, target, settle } = rig((error) => {
      reported.push(error.message);
    });
    target.emit('unhandledRejection', new Error('chunk refused'));
    target.emit('unhandledRejection', 'a string');
    await settle();
    expect(reported).toEqual(['chunk refused', 'a string']);
    expect(lines.map((l) => [l.level, l.err?.message])).toEqual([
      ['error', 'chunk refused'],
      ['error', 'a string'],
    ]);
  });

  it('logs a report that fails instead of letting it escape', async () => {
    const { lines, target, settle } = rig(async () => {
      throw new Error('database down');
    });
    target.emit('unhandledRejection', new Error('defect'));
    await settle();
    expect(lines.map((l) => [l.msg, l.err?.message])).toEqual([
      [expect.stringContaining('unhandled promise rejection'), 'defect'],
      ['could not raise the alarm for an unhandled promise rejection', 'database down'],
    ]);
  });

  it('stops listening when undone', () => {
    const { target, undo } = rig(() => undefined);
    expect(target.listenerCount('unhandledRejection')).toBe(1);
    undo();
    expect(target.listenerCount('unhandledRejection')).toBe(0);
  });
});
