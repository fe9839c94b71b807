import type { StoredEvent } from '../storage/event-store.js';

/**
 * The Server-Sent Events messages of the live stream, encoded once however many streams send
 * them. The hub hands every stream the same batch of the same event objects; serialising per
 * stream made 500 streams at 1,000 events/s saturate the dashboard (seconds of delay, see
 * bench/dashboard.bench.ts). Encoded bytes live as long as the events they belong to.
 */
interface EncodedBatch {
  whole: Buffer;
  first: number;
  last: number;
  ascending: boolean;
}

const frames = new WeakMap<StoredEvent, Buffer>();
const batches = new WeakMap<readonly StoredEvent[], EncodedBatch>();

/** One `event` message: its id the ingest number, its data the stored event as JSON. */
export function eventFrame(event: StoredEvent): Buffer {
  let frame = frames.get(event);
  if (!frame) {
    frame = Buffer.from(`id: ${event.ingestNo}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`);
    frames.set(event, frame);
  }
  return frame;
}

function encode(list: readonly StoredEvent[]): EncodedBatch {
  let batch = batches.get(list);
  if (!batch) {
    let ascending = true;
    for (let i = 1; i < list.length; i++) {
      if ((list[i] as StoredEvent).ingestNo <= (list[i - 1] as StoredEvent).ingestNo) ascending = false;
    }
    batch = {
      whole: Buffer.concat(list.map(eventFrame)),
      first: list[0]?.ingestNo ?? 0,
      last: list.at(-1)?.ingestNo ?? 0,
      ascending,
    };
    batches.set(list, batch);
  }
  return batch;
}

/**
 * The messages a stream that has sent up to `lastSent` still owes for `list`, in order, skipping
 * every event at or below the last one sent; and the new `lastSent`. `chunk` is undefined when
 * nothing is new.
 */
export function framesAfter(
  list: readonly StoredEvent[],
  lastSent: number,
): { chunk: Buffer | undefined; lastSent: number } {
  if (list.length === 0) return { chunk: undefined, lastSent };
  const batch = encode(list);
  if (batch.ascending && batch.first > lastSent) return { chunk: batch.whole, lastSent: batch.last };
  const parts: Buffer[] = [];
  let newest = lastSent;
  for (const event of list) {
    if (event.ingestNo <= newest) continue;
    parts.push(eventFrame(event));
    newest = event.ingestNo;
  }
  return { chunk: parts.length > 0 ? Buffer.concat(parts) : undefined, lastSent: newest };
}
