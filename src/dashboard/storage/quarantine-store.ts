import type { Pool } from 'pg';
import { MAX_BATCH_BYTES } from '../../protocol/envelope.js';
import { storableText } from './database.js';
import type { Queryable } from './event-store.js';

/** Keeps what could not be parsed or verified, with the reason, as evidence. */
export class QuarantineStore {
  constructor(private readonly pool: Pool) {}

  async add(
    topic: string,
    reason: string,
    detail: string,
    payload: Buffer,
    db: Queryable = this.pool,
  ): Promise<void> {
    await db.query('INSERT INTO quarantine (topic, reason, detail, payload) VALUES ($1, $2, $3, $4)', [
      storableText(topic).slice(0, 1024),
      reason,
      storableText(detail).slice(0, 2000),
      payload.subarray(0, MAX_BATCH_BYTES),
    ]);
  }

  async count(): Promise<number> {
    const result = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM quarantine');
    return Number(result.rows[0]?.n ?? 0);
  }
}
