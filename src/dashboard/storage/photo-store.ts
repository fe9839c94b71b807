import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { KeyRing } from '../../lib/key-ring.js';
import type { Queryable } from './event-store.js';

export const PHOTO_CONTEXT = 'identgate/person-photo/v1';
/** Large enough for a sharp passport-style photo, small enough to load by the dozen in the feed. */
export const MAX_PHOTO_BYTES = 512 * 1024;

export type PhotoType = 'image/jpeg' | 'image/png' | 'image/webp';

export interface Photo {
  contentType: PhotoType;
  data: Buffer;
  updatedAt: Date;
}

/**
 * What an image really is, from its first bytes — never from the name or the header a client
 * sent. Anything else (SVG with its scripts, HTML, PDF, truncated files) is refused.
 */
export function sniffPhotoType(data: Buffer): PhotoType | undefined {
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (data.length > 8 && data.subarray(0, 8).equals(png)) return 'image/png';
  if (
    data.length > 12 &&
    data.subarray(0, 4).toString('latin1') === 'RIFF' &&
    data.subarray(8, 12).toString('latin1') === 'WEBP'
  ) {
    return 'image/webp';
  }
  return undefined;
}

/** People's photos, sealed under the master key; a person's photo goes when the person goes. */
export class PhotoStore {
  private readonly keys: KeyRing | undefined;

  constructor(
    private readonly pool: Pool,
    masterKey: Buffer | KeyRing | undefined,
  ) {
    this.keys = Buffer.isBuffer(masterKey) ? new KeyRing(masterKey) : masterKey;
  }

  /** Stores (or replaces) a person's photo; returns the type read from its content. */
  async put(personId: string, data: Buffer, db: Queryable = this.pool): Promise<PhotoType> {
    if (data.length === 0) throw new CodedError('IDG_PHOTO_EMPTY', 'the photo is empty');
    if (data.length > MAX_PHOTO_BYTES) {
      throw new CodedError(
        'IDG_PHOTO_TOO_LARGE',
        `the photo has ${data.length} bytes; at most ${MAX_PHOTO_BYTES}`,
      );
    }
    const type = sniffPhotoType(data);
    if (!type) throw new CodedError('IDG_PHOTO_TYPE', 'not a JPEG, PNG or WebP image');
    const sealed = this.ring().seal(data, `${PHOTO_CONTEXT}/${personId}`);
    const result = await db.query(
      `INSERT INTO person_photos (person_id, content_type, bytes, photo_sealed)
       SELECT id, $2, $3, $4 FROM people WHERE id = $1
       ON CONFLICT (person_id) DO UPDATE SET content_type = EXCLUDED.content_type, bytes = EXCLUDED.bytes,
         photo_sealed = EXCLUDED.photo_sealed, updated_at = now()`,
      [personId, type, data.length, sealed],
    );
    if (result.rowCount === 0) throw new CodedError('IDG_PERSON_UNKNOWN', `no person "${personId}"`);
    return type;
  }

  async get(personId: string): Promise<Photo | undefined> {
    const { rows } = await this.pool.query<{
      content_type: PhotoType;
      photo_sealed: string;
      updated_at: Date;
    }>('SELECT content_type, photo_sealed, updated_at FROM person_photos WHERE person_id = $1', [personId]);
    const row = rows[0];
    if (!row) return undefined;
    return {
      contentType: row.content_type,
      data: this.ring().open(row.photo_sealed, `${PHOTO_CONTEXT}/${personId}`),
      updatedAt: row.updated_at,
    };
  }

  /** Who has a photo, and since when (the version the browser asks for). */
  async versions(): Promise<Array<{ person: string; version: string }>> {
    const { rows } = await this.pool.query<{ person_id: string; updated_at: Date }>(
      'SELECT person_id, updated_at FROM person_photos ORDER BY person_id',
    );
    return rows.map((r) => ({ person: r.person_id, version: String(r.updated_at.getTime()) }));
  }

  /** Removes a person's photo; false when there was none. */
  async remove(personId: string, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query('DELETE FROM person_photos WHERE person_id = $1', [personId]);
    return (result.rowCount ?? 0) > 0;
  }

  private ring(): KeyRing {
    if (!this.keys) {
      throw new CodedError(
        'IDG_NO_MASTER_KEY',
        'no master key configured (keys.masterKey): photos are stored sealed',
      );
    }
    return this.keys;
  }
}
