/** Half-open time ranges `[from, to)` in epoch milliseconds. */
export interface TimeRange {
  from: number;
  to: number;
}

export function overlaps(a: TimeRange, b: TimeRange): boolean {
  return a.from < b.to && b.from < a.to;
}

/** What is left of `range` once every hole is taken out, in order, without empty pieces. */
export function subtract(range: TimeRange, holes: readonly TimeRange[]): TimeRange[] {
  let pieces: TimeRange[] = range.to > range.from ? [range] : [];
  for (const hole of holes) {
    pieces = pieces.flatMap((piece) => {
      if (!overlaps(piece, hole)) return [piece];
      const left = { from: piece.from, to: hole.from };
      const right = { from: hole.to, to: piece.to };
      return [left, right].filter((p) => p.to > p.from);
    });
  }
  return pieces.sort((a, b) => a.from - b.from);
}
