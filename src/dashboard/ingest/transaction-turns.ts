/**
 * The order of the ingest pipeline's overlapping transactions: each takes a turn after the one
 * started before it, waits on that one's stages and marks its own as it reaches them.
 */

/**
 * How far a transaction of the pipeline has got. The next one waits on these, so that batches
 * overlap in the database without ever waiting on each other in a circle (see
 * IngestPipeline.process() for what waits on which).
 */
export interface Stages {
  claimed: Promise<void>;
  inserted: Promise<void>;
  committed: Promise<void>;
}

const DONE: Stages = {
  claimed: Promise.resolve(),
  inserted: Promise.resolve(),
  committed: Promise.resolve(),
};

export class TransactionTurns {
  /** The stages of the transaction started last. */
  private last: Stages = DONE;

  /** This transaction's place after the one before; `reach` marks its own stages (and all, at the end). */
  take(): { before: Stages; reach: Record<keyof Stages, () => void> } {
    const before = this.last;
    const reach = { claimed: () => {}, inserted: () => {}, committed: () => {} };
    this.last = {
      claimed: new Promise((resolve) => {
        reach.claimed = resolve;
      }),
      inserted: new Promise((resolve) => {
        reach.inserted = resolve;
      }),
      committed: new Promise((resolve) => {
        reach.committed = resolve;
      }),
    };
    return { before, reach };
  }
}
