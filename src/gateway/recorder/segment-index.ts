import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Logger } from '../../lib/logger.js';
import { rowMac } from './index-mac.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import type { UptimeSource } from './uptime.js';
import { DAY_PATTERN, dayEnd, dayStart, keyIdOf } from './video-days.js';

const MAX_SEGMENT_MS = 600_000;

/**
 * The footage index: one append-only JSON Lines file per camera and day, beside that day's files
 * (`<videoDir>/<camera>/<day>/index.jsonl`). Every line is fsync'd before anyone is told about
 * the segment, or cut off again and an error thrown; a torn last line after a crash is skipped
 * when read and cut off before the next append. Deleting a day is deleting its folder,
 * index included, so index and footage cannot drift apart by more than one file, and reconcile
 * repairs that. No database on the gateway: nothing to migrate, nothing to corrupt as a whole.
 */
const Time = Type.String({ format: 'date-time' });
const Stored = {
  file: Type.String({ pattern: '^[A-Za-z0-9._-]{1,128}$' }),
  start: Time,
  end: Time,
  bytes: Type.Integer({ minimum: 0 }),
  plainBytes: Type.Integer({ minimum: 0 }),
  keyId: Type.String(),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  /** Which boot wrote the row, and how long the machine had been up (see uptime.ts). */
  boot: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  up: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Written while the clock was not known to be synchronised: start and end may be wrong. */
  unsynced: Type.Optional(Type.Literal(true)),
  /** HMAC of the row under the day key (index-mac.ts); absent in rows from before it was added. */
  mac: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
};
const SegmentRow = Type.Object({ t: Type.Literal('segment'), ...Stored });
const ArtifactRow = Type.Object({
  t: Type.Literal('artifact'),
  kind: Type.Union([Type.Literal('clip'), Type.Literal('snapshot')]),
  event: Type.String({ minLength: 1, maxLength: 64 }),
  ...Stored,
});
export const IndexRow = Type.Union([
  SegmentRow,
  ArtifactRow,
  Type.Object({
    t: Type.Literal('link'),
    file: Type.String(),
    event: Type.String({ minLength: 1, maxLength: 64 }),
  }),
  Type.Object({ t: Type.Literal('removed'), file: Type.String(), reason: Type.String(), at: Time }),
  /** Unsynced footage dated anew for retention (FootageMaintenance): its end counts from `end`. */
  Type.Object({
    t: Type.Literal('dated'),
    file: Type.String(),
    end: Time,
    basis: Type.Union([Type.Literal('uptime'), Type.Literal('first-seen')]),
    at: Time,
  }),
]);
export type IndexRow = Static<typeof IndexRow>;
/** A row that names a stored file. */
export type StoredRow = Static<typeof SegmentRow> | Static<typeof ArtifactRow>;
const rowValidator = Compile(IndexRow);

export const INDEX_FILE = 'index.jsonl';

/** A piece of footage on disk as the index knows it. */
export interface FootageFile {
  camera: string;
  day: string;
  file: string;
  path: string;
  kind: 'segment' | 'clip' | 'snapshot';
  startMs: number;
  endMs: number;
  bytes: number;
  plainBytes: number;
  keyId: string;
  sha256: string;
  /** Events this footage is linked to; linked footage is pruned last under disk pressure. */
  events: string[];
  /** The boot that wrote the row and its uptime then, when known (see uptime.ts). */
  written?: { boot: string; upMs: number };
  /** Recorded while the clock was not known to be synchronised: its times may be wrong. */
  unsynced?: boolean;
  /** For unsynced footage dated anew: the end retention counts from. */
  datedEndMs?: number;
  /** The row as written, for checking its MAC (footage-integrity.ts). */
  row?: StoredRow;
}

/** What `append` adds to a row naming a file: the clock it was written under, and a MAC. */
export interface RowSealing {
  synchronised(): boolean;
  uptime: UptimeSource;
  /** The day's data key to authenticate rows under; without it rows get no MAC (tests). */
  dayKey?: (keyId: string) => Buffer;
}

/** `writeSync`'s shape: the bytes written, which a full disk may make fewer than asked for. */
export type WriteBytes = (fd: number, buffer: Buffer, offset: number, length: number) => number;

export class SegmentIndex {
  constructor(
    readonly videoDir: string,
    private readonly log: Logger,
    private readonly sealing?: RowSealing,
    /** The one write to the disk, replaceable so that tests can cut a write short. */
    private readonly write: WriteBytes = (fd, buffer, offset, length) =>
      writeSync(fd, buffer, offset, length),
  ) {}

  dayDir(camera: string, day: string): string {
    return join(this.videoDir, camera, day);
  }

  /**
   * Appends one row durably (fdatasync) before returning, or throws IDG_VIDEO_INDEX_WRITE with
   * the file cut back to where it was: a row is whole on disk or not there at all.
   */
  append(camera: string, day: string, row: IndexRow): void {
    const dir = this.dayDir(camera, day);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const line = Buffer.from(`${JSON.stringify(this.sealed(camera, day, row))}\n`);
    const fd = openSync(join(dir, INDEX_FILE), 'a+', 0o600);
    try {
      const start = this.cutTornTail(fd, camera, day);
      try {
        // A full disk returns a short count rather than failing: the rest is tried until it fails.
        for (let done = 0; done < line.length; ) {
          const wrote = this.write(fd, line, done, line.length - done);
          if (wrote <= 0) throw new Error(`the disk took ${done} of the row's ${line.length} bytes`);
          done += wrote;
        }
        fdatasyncSync(fd);
      } catch (error) {
        this.cutBack(fd, start, camera, day);
        throw recorderError(
          RecorderErrorCode.indexWrite,
          `video index ${camera}/${day}: row for ${row.file} not written: ${messageOf(error)}`,
          error,
        );
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Cuts a torn last line (a crash mid-append) back to the last newline, so that the next row
   * starts a line of its own instead of being glued onto the broken one. Returns the size after.
   */
  private cutTornTail(fd: number, camera: string, day: string): number {
    const size = fstatSync(fd).size;
    if (size === 0) return 0;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === NEWLINE) return size;
    const whole = Buffer.alloc(size);
    readSync(fd, whole, 0, size, 0);
    const keep = whole.lastIndexOf(NEWLINE) + 1;
    try {
      ftruncateSync(fd, keep);
      fdatasyncSync(fd);
    } catch (error) {
      throw recorderError(
        RecorderErrorCode.indexWrite,
        `video index ${camera}/${day}: cannot cut off a torn last line: ${messageOf(error)}`,
        error,
      );
    }
    this.log.warn({ camera, day, droppedBytes: size - keep }, 'video index: torn last line cut off');
    return keep;
  }

  /** Undoes a failed append; if even that fails, the next append cuts the torn line off. */
  private cutBack(fd: number, size: number, camera: string, day: string): void {
    try {
      ftruncateSync(fd, size);
      fdatasyncSync(fd);
    } catch (error) {
      this.log.error({ err: error, camera, day }, 'video index: cannot cut a failed row back off');
    }
  }

  private sealed(camera: string, day: string, row: IndexRow): IndexRow {
    const { sealing } = this;
    if (!sealing || (row.t !== 'segment' && row.t !== 'artifact')) return row;
    const up = sealing.uptime();
    const stamped: StoredRow = {
      ...row,
      ...(up ? { boot: up.boot, up: up.upMs } : {}),
      ...(sealing.synchronised() ? {} : { unsynced: true as const }),
    };
    if (!sealing.dayKey) return stamped;
    return { ...stamped, mac: rowMac(sealing.dayKey(keyIdOf(camera, day)), camera, day, stamped) };
  }

  /** Camera folders (dot folders such as the spool are not cameras). */
  cameras(): string[] {
    return listDir(this.videoDir).filter((name) => !name.startsWith('.'));
  }

  days(camera: string): string[] {
    return listDir(join(this.videoDir, camera))
      .filter((name) => DAY_PATTERN.test(name))
      .sort();
  }

  /** The footage of one camera and day that has not been removed, oldest first. */
  read(camera: string, day: string): FootageFile[] {
    const path = join(this.dayDir(camera, day), INDEX_FILE);
    if (!existsSync(path)) return [];
    return this.parse(camera, day, readFileSync(path));
  }

  /**
   * A day's index as bytes, read off the event loop; none when the day has no index. The
   * housekeeping looks into it before parsing it: most days need no row parsed (video-retention.ts).
   */
  async readBytes(camera: string, day: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.dayDir(camera, day), INDEX_FILE));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** `read` for the housekeeping: the file is read off the event loop, only the parsing is on it. */
  async readDay(camera: string, day: string): Promise<FootageFile[]> {
    const bytes = await this.readBytes(camera, day);
    return bytes ? this.parse(camera, day, bytes) : [];
  }

  /**
   * All indexed footage, read one camera-day per turn of the event loop: 60 days of a camera's
   * index take seconds to parse, which must not hold up the doors the gateway also runs.
   */
  async allInSlices(): Promise<FootageFile[]> {
    const all: FootageFile[] = [];
    for (const camera of this.cameras())
      for (const day of this.days(camera)) {
        await nextTurn();
        for (const file of await this.readDay(camera, day)) all.push(file);
      }
    return all;
  }

  /** The footage a day's index names, not removed, oldest first. */
  parse(camera: string, day: string, bytes: Buffer): FootageFile[] {
    const files = new Map<string, FootageFile>();
    const links: Array<{ file: string; event: string }> = [];
    const dated = new Map<string, number>();
    const lines = bytes.toString('utf8').split('\n');
    lines.forEach((line, at) => {
      if (line.trim() === '') return;
      const row = parseRow(line);
      if (!row) {
        this.log.warn({ camera, day, line: at + 1 }, 'video index: unreadable line skipped');
        return;
      }
      if (row.t === 'removed') files.delete(row.file);
      else if (row.t === 'link') links.push(row);
      else if (row.t === 'dated') dated.set(row.file, Date.parse(row.end));
      else
        files.set(row.file, {
          camera,
          day,
          file: row.file,
          path: join(this.dayDir(camera, day), row.file),
          kind: row.t === 'segment' ? 'segment' : row.kind,
          startMs: Date.parse(row.start),
          endMs: Date.parse(row.end),
          bytes: row.bytes,
          plainBytes: row.plainBytes,
          keyId: row.keyId,
          sha256: row.sha256,
          events: row.t === 'artifact' ? [row.event] : [],
          ...(row.boot !== undefined && row.up !== undefined
            ? { written: { boot: row.boot, upMs: row.up } }
            : {}),
          ...(row.unsynced ? { unsynced: true } : {}),
          row,
        });
    });
    for (const link of links) {
      const file = files.get(link.file);
      if (file && !file.events.includes(link.event)) file.events.push(link.event);
    }
    // Only footage recorded under an unsynchronised clock is dated anew.
    for (const [name, endMs] of dated) {
      const file = files.get(name);
      if (file?.unsynced) file.datedEndMs = endMs;
    }
    return [...files.values()].sort((a, b) => a.startMs - b.startMs || a.file.localeCompare(b.file));
  }

  /** All indexed footage of every camera, or of one. */
  all(camera?: string): FootageFile[] {
    const cameras = camera ? [camera] : this.cameras();
    return cameras.flatMap((c) => this.days(c).flatMap((d) => this.read(c, d)));
  }

  /** A camera's segments that overlap [fromMs, toMs], oldest first. */
  segmentsBetween(camera: string, fromMs: number, toMs: number): FootageFile[] {
    return (
      this.days(camera)
        // A segment belongs to the day it started in, so the day before may hold the first one.
        .filter((day) => dayStart(day) <= toMs && dayEnd(day) + MAX_SEGMENT_MS > fromMs)
        .flatMap((day) => this.read(camera, day))
        .filter((f) => f.kind === 'segment' && f.endMs > fromMs && f.startMs < toMs)
    );
  }

  /** Removes a whole day: its files and its index. */
  removeDay(camera: string, day: string): void {
    rmSync(this.dayDir(camera, day), { recursive: true, force: true });
    const cameraDir = join(this.videoDir, camera);
    if (existsSync(cameraDir) && listDir(cameraDir).length === 0)
      rmSync(cameraDir, { recursive: true, force: true });
  }
}

const NEWLINE = 0x0a;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function parseRow(line: string): IndexRow | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return rowValidator.Check(value) ? value : undefined;
  } catch {
    // A torn line from a crash mid-append: the caller logs and skips it.
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // A folder that is not there holds nothing.
    return [];
  }
}
