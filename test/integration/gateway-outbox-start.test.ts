import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { frameRecord } from '../../src/gateway/outbox/outbox-segment.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { uniqueSite } from '../helpers/services.js';
import { testGatewayConfig } from '../helpers/system.js';

/**
 * A gateway whose outbox holds no record of some numbers at start (given up, dropped at the
 * bound, or damaged): the journal passes them, and the gateway names them in an alarm.
 */
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

describe('a gateway starting on an outbox with numbers missing', () => {
  it('names them in a critical events-lost alarm, and numbers on after its records', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gw-'));
    const outbox = join(stateDir, 'outbox');
    mkdirSync(outbox, { recursive: true, mode: 0o700 });
    // Records 1 and 3 survived; 2 did not (a damaged sector, say).
    const record = (seq: number) => frameRecord(seq, Buffer.from(JSON.stringify({ seq })));
    writeFileSync(join(outbox, 'seg-0000000000000001.log'), Buffer.concat([record(1), record(3)]), {
      mode: 0o600,
    });
    const gateway = new Gateway({
      config: testGatewayConfig(uniqueSite('obx'), stateDir, { simControl: false }),
      log: silentLogger,
    });
    gateways.push(gateway);
    const lost = new Promise<Envelope>((resolve) => {
      gateway.bus.on('test', 'recorded', (event) => {
        if (event.kind === 'alarm.raised' && (event.data as { alarm: string }).alarm === 'events-lost')
          resolve(event);
      });
    });
    await gateway.start();
    const alarm = await lost;
    expect(alarm.data).toMatchObject({
      key: 'events-lost:2-2',
      severity: 'critical',
      detail: expect.stringContaining('not in the outbox at start'),
    });
    expect(alarm.seq).toBeGreaterThan(3);
  });
});
