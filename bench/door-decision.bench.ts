// Door decisions per second and latency from badge + code to the relay command, in process, for
// many different people (so every code is fresh), beside the cost of a bare otplib verify of the
// same kind of code measured in the same run. Goal: p99 <= 1 ms and >= 20,000 decisions/s.

import { performance } from 'node:perf_hooks';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { verifySync } from 'otplib';
import { AccessRules } from '../src/controllers/access-rules.js';
import { AlarmBook } from '../src/controllers/alarm-book.js';
import { DoorController } from '../src/controllers/door-controller.js';
import type { Credential } from '../src/controllers/door-ports.js';
import { RoomState } from '../src/controllers/room-state.js';
import { generateTotpSecret } from '../src/controllers/totp-secret.js';
import { MemoryTotpUsage, TotpVerifier } from '../src/controllers/totp-verifier.js';
import { FakeClock } from '../src/lib/clock.js';
import { fmt, percentile, row } from './bench-kit.js';

const PEOPLE = 20_000;
const clock = new FakeClock(Date.UTC(2026, 0, 7, 8, 0, 5));
const credentials: Credential[] = Array.from({ length: PEOPLE }, (_, i) => ({
  badge: `B${i}`,
  person: `p${i}`,
  name: `Person ${i}`,
  status: 'active',
  totpSecret: generateTotpSecret(),
  backgroundCheckOn: '2025-06-01',
  trainingOn: '2025-12-01',
}));
const byBadge = new Map(credentials.map((c) => [c.badge, c]));
const lookup = { findByBadge: (b: string) => byBadge.get(b), syncedAt: clock.now(), all: () => credentials };
let events = 0;
const rules = new AccessRules(
  {
    compliance: { backgroundCheckMaxDays: 1095, trainingMaxDays: 365, warnDays: 30 },
    badgeThrottle: { maxFailures: 5, windowMs: 900_000, lockoutMs: 900_000 },
    readerThrottle: { maxFailures: 1_000_000, windowMs: 60_000, lockoutMs: 60_000 },
    offlineHorizonMs: 72 * 3_600_000,
  },
  lookup,
  { synchronised: () => true },
  new AlarmBook(() => {}),
);
const totp = new TotpVerifier(undefined, new MemoryTotpUsage());
let unlockedAt = 0;
const door = new DoorController(
  {
    id: 'main',
    room: 'ident-1',
    unlockMs: 5000,
    codeTimeoutMs: 20_000,
    heldOpenMs: 30_000,
    failMode: 'secure',
    exitRequiresCode: false,
  },
  {
    clock,
    lock: {
      state: 'locked',
      unlock: () => {
        unlockedAt = performance.now();
      },
      lock: () => {},
    },
    keypad: { clearEntry: () => {} },
    credentials: lookup,
    rules,
    room: new RoomState({ id: 'ident-1', antiPassback: 'off', firstPersonIn: false }),
    totp,
    emit: () => {
      events += 1;
    },
    feedback: () => {},
  },
);
door.start();

// The codes people would type, computed outside the measurement.
const codes = credentials.map((c) => totp.generate(c.totpSecret as string, clock.now()));

// Baseline: a bare otplib verify (same plugin, same ±1 step window) of the same codes.
const crypto = new NodeCryptoPlugin();
const epoch = Math.floor(clock.now() / 1000);
let start = performance.now();
for (let i = 0; i < PEOPLE; i++) {
  verifySync({
    secret: credentials[i]?.totpSecret as string,
    token: codes[i] as string,
    crypto,
    epoch,
    epochTolerance: 30,
  });
}
const bareRate = (PEOPLE * 1000) / (performance.now() - start);

// Decisions: badge, then code, to the relay command.
const latencies: number[] = [];
start = performance.now();
for (let i = 0; i < PEOPLE; i++) {
  const t0 = performance.now();
  door.badge(credentials[i]?.badge as string);
  const feedback = door.code(codes[i] as string);
  if (feedback.outcome !== 'granted') throw new Error(`decision ${i} was ${JSON.stringify(feedback)}`);
  latencies.push(unlockedAt - t0);
}
const elapsed = performance.now() - start;
const rate = (PEOPLE * 1000) / elapsed;
latencies.sort((a, b) => a - b);

row('baseline: bare otplib verifySync', `${fmt(bareRate)} /s`);
row(
  'decisions: badge + code -> relay command',
  `${fmt(rate)} /s`,
  `${(rate / bareRate).toFixed(2)} x baseline`,
);
row('latency p50', `${(percentile(latencies, 50) * 1000).toFixed(1)} µs`);
row(
  'latency p99',
  `${(percentile(latencies, 99) * 1000).toFixed(1)} µs`,
  percentile(latencies, 99) <= 1 ? 'goal p99 <= 1 ms: met' : 'goal p99 <= 1 ms: MISSED',
);
row('events emitted', fmt(events));
process.stdout.write(
  rate >= 20_000 ? 'goal >= 20,000 decisions/s: met\n' : 'goal >= 20,000 decisions/s: MISSED\n',
);
