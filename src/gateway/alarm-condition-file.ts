import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { ConditionStore, HeldCondition } from '../controllers/alarm-book.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic, writeFileAtomicAsync } from '../lib/state-files.js';
import { AlarmKey, AlarmType, Severity } from '../protocol/event-kinds.js';
import { ID_PATTERN } from '../protocol/ids.js';
import { readStateFile } from './state-file-reader.js';

export const ALARM_CONDITIONS_FILE = 'alarm-conditions.json';

const ConditionsFile = Type.Object(
  {
    conditions: Type.Array(
      Type.Object(
        {
          alarm: AlarmType,
          key: AlarmKey,
          severity: Severity,
          door: Type.Optional(Type.String({ pattern: ID_PATTERN })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10_000 },
    ),
    /** crc32 of the `conditions` as JSON: a bit flipped on the disk shows as damage. */
    check: Type.String({ pattern: '^[0-9a-f]{8}$' }),
  },
  { additionalProperties: false },
);
const fileValidator = Compile(ConditionsFile);

/**
 * The alarm book's conditions in the state directory (`alarm-conditions.json`), so that a
 * restart can end those that ended meanwhile. Written atomically on each raise and clear of a
 * condition, off the event loop: a door decision that raises an alarm does not wait for the disk.
 * Writes are coalesced, one at a time, the newest list last, so the file ends with the newest.
 * The book's events wait in `afterSaved` until the list saved before them is on disk: a raising
 * reaches the outbox only once it is kept. A write that fails is logged and the alarm goes on
 * (the outbox's own alarm tells of a disk that refuses writes). After `close` a save is written
 * at once, synchronously, so that nothing raised while the gateway stops is lost.
 */
export class AlarmConditionFile implements ConditionStore {
  readonly path: string;
  /** The newest list not yet being written. */
  private next: readonly HeldCondition[] | undefined;
  /** Counts the lists saved, and the last of them on disk (or whose write failed and was logged). */
  private saved = 0;
  private done = 0;
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly waiting: Array<{ after: number; tell: () => void }> = [];

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, ALARM_CONDITIONS_FILE);
  }

  save(conditions: readonly HeldCondition[]): void {
    this.saved += 1;
    if (this.closed) {
      try {
        writeFileAtomic(this.path, fileText(conditions));
      } catch (error) {
        this.failed(error, conditions);
      }
      this.done = this.saved;
      return;
    }
    this.next = [...conditions];
    this.writing ??= this.writeAll();
  }

  afterSaved(tell: () => void): void {
    if (this.waiting.length === 0 && this.done === this.saved) tell();
    else this.waiting.push({ after: this.saved, tell });
  }

  /** Resolves once every list saved so far is on disk (or its write failed and was logged). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Waits for the writes under way; from then on each save is written at once. */
  async close(): Promise<void> {
    // Checked right before the flag is set: a save in between would start another write.
    while (this.writing) await this.writing;
    this.closed = true;
  }

  private async writeAll(): Promise<void> {
    while (this.next) {
      const conditions = this.next;
      const upTo = this.saved;
      this.next = undefined;
      try {
        await writeFileAtomicAsync(this.path, fileText(conditions));
      } catch (error) {
        this.failed(error, conditions);
      }
      this.done = upTo;
      while (this.waiting[0] && this.waiting[0].after <= this.done)
        this.tell((this.waiting.shift() as { tell: () => void }).tell);
    }
    this.writing = undefined;
  }

  private failed(error: unknown, conditions: readonly HeldCondition[]): void {
    this.log.error(
      { err: error, file: this.path, conditions: conditions.map((c) => c.key) },
      'could not write the alarm conditions; a restart may not end those that end meanwhile',
    );
  }

  /** An event that waited goes to the outbox; one that fails there is logged, as no caller waits. */
  private tell(tell: () => void): void {
    try {
      tell();
    } catch (error) {
      this.log.error({ err: error }, 'an alarm event could not be recorded');
    }
  }

  /**
   * The conditions written last: none when there is no file (a first start, or one after an
   * update from a version without it), `lost` with the reason when it cannot be read.
   */
  load(): { conditions: HeldCondition[]; missing?: true } | { lost: string } {
    const read = readStateFile(this.path, fileValidator);
    if ('missing' in read) return { conditions: [], missing: true };
    if ('lost' in read) return read;
    const { conditions, check } = read.value;
    if (check !== checkOf(conditions)) return { lost: 'the file does not match its checksum' };
    return { conditions };
  }
}

function fileText(conditions: readonly HeldCondition[]): string {
  const list = [...conditions];
  return `${JSON.stringify({ conditions: list, check: checkOf(list) })}\n`;
}

function checkOf(conditions: readonly HeldCondition[]): string {
  return crc32(JSON.stringify(conditions)).toString(16).padStart(8, '0');
}
