import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { ConditionStore, HeldCondition } from '../controllers/alarm-book.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';
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
 * condition, which are rare. A write that fails is logged and the alarm goes on: the outbox's
 * own alarm tells of a disk that refuses writes.
 */
export class AlarmConditionFile implements ConditionStore {
  readonly path: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, ALARM_CONDITIONS_FILE);
  }

  save(conditions: readonly HeldCondition[]): void {
    try {
      const list = [...conditions];
      writeFileAtomic(this.path, `${JSON.stringify({ conditions: list, check: checkOf(list) })}\n`);
    } catch (error) {
      this.log.error(
        { err: error, file: this.path, conditions: conditions.map((c) => c.key) },
        'could not write the alarm conditions; a restart may not end those that end meanwhile',
      );
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

function checkOf(conditions: readonly HeldCondition[]): string {
  return crc32(JSON.stringify(conditions)).toString(16).padStart(8, '0');
}
