import { performance } from 'node:perf_hooks';

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 1500): number {
  const warmUntil = performance.now() + ms / 5;
  while (performance.now() < warmUntil) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function row(label: string, value: string, ratio?: string): void {
  process.stdout.write(`${label.padEnd(44)} ${value.padStart(16)}${ratio ? `   ${ratio}` : ''}\n`);
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
