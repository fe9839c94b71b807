/**
 * The order of two badge events. One gateway numbers its events without gaps, so within one
 * gateway its sequence numbers tell for sure; across gateways only their clocks can, and a clock
 * can step. Callers decide which way doubt falls: presence takes the side of "not present".
 */
export interface EventMark {
  /** Epoch ms on the reporting gateway's clock. */
  at: number;
  gateway?: string | undefined;
  seq?: number | undefined;
}

function sameGateway(a: EventMark, b: EventMark): boolean {
  return a.gateway !== undefined && a.gateway === b.gateway && a.seq !== undefined && b.seq !== undefined;
}

/** Whether `a` certainly came before `b`: only one gateway's sequence numbers can say so. */
export function happenedBefore(a: EventMark, b: EventMark): boolean {
  return sameGateway(a, b) && (a.seq as number) < (b.seq as number);
}

/** Whether `a` came after `b` as far as can be told: by sequence within one gateway, else by time (a tie is not after). */
export function happenedAfter(a: EventMark, b: EventMark): boolean {
  if (sameGateway(a, b)) return (a.seq as number) > (b.seq as number);
  return a.at > b.at;
}
