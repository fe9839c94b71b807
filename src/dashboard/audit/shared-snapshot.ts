import pg from 'pg';

/** One half of the reading: a connection inside the shared snapshot, and when to stop. */
export type SnapshotReader<T> = (client: pg.ClientBase, signal: AbortSignal) => Promise<T>;

/**
 * Runs two readers at once, each on its own connection, both in one repeatable-read read-only
 * snapshot: what they read agrees as if it were one transaction, while the two PostgreSQL
 * backends work side by side. The first transaction exports its snapshot and the second imports
 * it before either reader starts (an exported snapshot lives only while its transaction is open).
 *
 * When one reader fails, or `signal` aborts, the other is stopped and both connections are
 * closed: either may be mid-query or mid-COPY, and closing ends its transaction on the server.
 * The call settles only after both readers have, so nothing of theirs runs on afterwards.
 */
export async function withSharedSnapshot<A, B>(
  pool: pg.Pool,
  signal: AbortSignal | undefined,
  first: SnapshotReader<A>,
  second: SnapshotReader<B>,
): Promise<[A, B]> {
  // The second connection is the export's own rather than the pool's: two from the pool at once
  // can wait on each other when concurrent exports fill it, and a pool of one never has two.
  const own = new pg.Client(pool.options);
  // A connection lost between queries fails the next query, which reports it; without a listener
  // the 'error' event would end the process instead.
  own.on('error', () => undefined);
  const main = await pool.connect().catch(async (error: unknown) => {
    await own.end();
    throw error;
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    main.release(true);
    own.end().catch(() => undefined); // only a connection already gone can fail to end
  };
  const stop = new AbortController();
  const stopped = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  stopped.addEventListener('abort', close, { once: true });
  try {
    await Promise.all([own.connect(), main.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')]);
    const exported = await main.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    await own.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await own.query(`SET TRANSACTION SNAPSHOT ${own.escapeLiteral(exported.rows[0]?.id ?? '')}`);
    stopped.throwIfAborted();
    const failed = (error: unknown): never => {
      stop.abort(error);
      throw error;
    };
    const reading = [first(main, stopped).catch(failed), second(own, stopped).catch(failed)] as const;
    // The first failure is the one to report; the other reader's follows from being stopped.
    const results = await Promise.all(reading).catch(async (error: unknown) => {
      await Promise.allSettled(reading);
      throw error;
    });
    await Promise.all([main.query('COMMIT'), own.query('COMMIT')]);
    closed = true;
    main.release();
    await own.end();
    return results;
  } catch (error) {
    close();
    throw error;
  } finally {
    stopped.removeEventListener('abort', close);
  }
}
