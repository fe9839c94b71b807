// Workstation login checks answered from presence in memory: token check plus decision, for
// 20,000 people present across 200 rooms, beside a bare SHA-256 of a token (the floor any
// token-authenticated request pays) measured in the same run. Goal: p99 well under 1 ms, so the
// HTTP round trip and the audit insert dominate a check. Then the throttle every check passes
// first: a take from its workstation's bucket, and a check denied during a flood (nothing
// written), beside the check.

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { workstationSettings } from '../src/config/workstation-config.js';
import { LiveHub } from '../src/dashboard/live-hub.js';
import { LoginCheckThrottle } from '../src/dashboard/presence/login-check-throttle.js';
import { PresenceService } from '../src/dashboard/presence/presence-service.js';
import { hashWorkstationToken, type WorkstationStore } from '../src/dashboard/storage/workstation-store.js';
import { FakeClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { TokenBuckets } from '../src/lib/token-buckets.js';
import { fmt, opsPerSecond, percentile, row } from './bench-kit.js';

const PEOPLE = 20_000;
const ROOMS = 200;
const clock = new FakeClock(Date.UTC(2026, 5, 1, 8));
const rooms = Array.from({ length: ROOMS }, (_, i) => `room-${i}`);
const store = {
  directory: async () => ({
    workstations: rooms.map((room, i) => ({
      id: `ws-${i}`,
      site: 'hq',
      room,
      name: `ws-${i}`,
      tokenHash: hashWorkstationToken(`token-${i}`),
    })),
    doors: rooms.map((room, i) => ({ site: 'hq', id: `door-${i}`, room })),
    people: Array.from({ length: PEOPLE }, (_, i) => ({ id: `p${i}`, trainingOn: '2026-01-01' })),
    revokedBadges: [],
  }),
  presenceEventsSince: async () => [],
} as unknown as WorkstationStore;
const presence = new PresenceService({
  store,
  hub: new LiveHub(),
  clock,
  log: silentLogger,
  settings: workstationSettings({ workstations: { trainingMaxDays: 365 } }),
});
await presence.start();
presence.apply(
  Array.from({ length: PEOPLE }, (_, i) => ({
    kind: 'access.granted',
    site: 'hq',
    occurredAt: new Date(clock.now()).toISOString(),
    data: { door: `door-${i % ROOMS}`, direction: 'in', person: `p${i}`, badge: `b${i}` },
  })),
);

let i = 0;
const check = () => {
  const ws = i % ROOMS;
  presence.authenticate(`ws-${ws}`, `token-${ws}`);
  presence.check(`ws-${ws}`, `p${(i * 7) % PEOPLE}`);
  i += 1;
};
const latencies: number[] = [];
for (let n = 0; n < 50_000; n++) {
  const start = performance.now();
  check();
  latencies.push((performance.now() - start) * 1000);
}
latencies.sort((a, b) => a - b);
const checks = opsPerSecond(check);
const hashes = opsPerSecond(() =>
  createHash('sha256')
    .update(`token-${i++ % ROOMS}`)
    .digest(),
);
row(
  'login checks per second (token + decision)',
  fmt(checks),
  `${(checks / hashes).toFixed(2)}× a bare SHA-256`,
);
row('bare SHA-256 of a token per second', fmt(hashes));
row('check latency p50 (µs)', latencies[Math.floor(latencies.length / 2)]?.toFixed(1) ?? '?');
row('check latency p99 (µs)', percentile(latencies, 99).toFixed(1));

const buckets = new TokenBuckets({ burst: 1e12, intervalMs: 2_000 });
const takes = opsPerSecond(() => {
  buckets.take(`ws-${i++ % ROOMS}`, clock.now());
});
row('bucket takes per second (admitted)', fmt(takes), `${(takes / checks).toFixed(1)}× a check`);
const throttle = new LoginCheckThrottle({
  limits: { burst: 20, intervalMs: 2_000 },
  audit: { record: async () => 0 },
  alarms: {
    raiseCentralUnlessOpen: async () => [],
    clearCentralAnySite: async () => [],
    clearCentralOfType: async () => [],
  },
  alarmsChanged: () => {},
  siteOf: () => 'hq',
  clock,
  log: silentLogger,
});
const FLOODED = 200_000;
for (let n = 0; n < 21; n++) await throttle.admit('ws-0');
const floodStart = performance.now();
for (let n = 0; n < FLOODED; n++) await throttle.admit('ws-0');
const denied = (FLOODED * 1000) / (performance.now() - floodStart);
row('throttled checks denied per second', fmt(denied), `${(denied / checks).toFixed(1)}× a check`);
await throttle.stop();
presence.stop();
