import { describe, expect, it } from 'vitest';
import { unhandledRejectionReporter } from '../../../../src/dashboard/monitoring/defect-alarms.js';
import type { AlarmView, CentralAlarm } from '../../../../src/dashboard/storage/alarm-store.js';

describe("the dashboard's alarm for a rejection no code handled", () => {
  it('raises one critical internal-error alarm per run and publishes it live', async () => {
    const raised: CentralAlarm[] = [];
    const published: AlarmView[][] = [];
    const view = { id: 7 } as AlarmView;
    const report = unhandledRejectionReporter(
      {
        raiseCentral: async (alarm: CentralAlarm) => {
          raised.push(alarm);
          return [view];
        },
      },
      { publishAlarms: (alarms) => published.push([...alarms]) },
      'instance-1',
    );
    await report(new Error('first defect'));
    await report(new Error('second defect'));
    expect(raised).toEqual([
      {
        alarm: 'internal-error',
        key: 'unhandled-rejection',
        severity: 'critical',
        detail: expect.stringMatching(/^dashboard instance instance-1: .*first defect$/),
      },
    ]);
    expect(published).toEqual([[view]]);
  });
});
