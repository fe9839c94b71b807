/** Adds from…to to ranges, joined to the last one where they overlap or touch. */
export function addRange(ranges: Array<[number, number]>, from: number, to: number): void {
  const last = ranges.at(-1);
  if (last && from <= last[1] + 1 && to >= last[0] - 1) {
    last[0] = Math.min(last[0], from);
    last[1] = Math.max(last[1], to);
  } else ranges.push([from, to]);
}
