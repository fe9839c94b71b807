import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Rig, startRig } from '../../helpers/recorder-rig.js';

describe('supervising a camera recording', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig();
    await rig.events.count('video.segment', 2);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it('restarts ffmpeg when it is killed and keeps recording', async () => {
    const pid = rig.recorder.status()[0]?.pid;
    expect(pid).toBeTypeOf('number');
    const down = rig.events.next('camera.down');
    const up = rig.events.next('camera.up');
    process.kill(pid as number, 'SIGKILL');
    expect(await down).toMatchObject({ camera: 'cam-1', reason: 'exit' });
    expect(await up).toMatchObject({ camera: 'cam-1', restarts: 1 });
    const segment = await rig.events.next('video.segment');
    expect(Date.parse(segment.start)).toBeGreaterThan(Date.now() - 30_000);
    expect(rig.recorder.status()[0]?.pid).not.toBe(pid);
  });

  it('reports the camera down when its source dies and up when it returns', async () => {
    const down = rig.events.next('camera.down');
    await rig.source.killSource();
    expect(await down).toMatchObject({ camera: 'cam-1', reason: expect.stringMatching(/^(stall|exit)$/) });
    expect(rig.recorder.status()[0]?.state).toBe('down');

    const up = rig.events.next('camera.up');
    await rig.source.startSource();
    const back = await up;
    expect(back.downMs).toBeGreaterThan(0);
    await rig.events.next('video.segment');
    expect(rig.events.of('camera.down')).toHaveLength(2);
  });

  it('reports the camera down when its watchdog fires, while the frozen ffmpeg is not ended yet', async () => {
    const pid = rig.recorder.status()[0]?.pid as number;
    const down = rig.events.next('camera.down');
    const up = rig.events.next('camera.up');
    // A frozen process answers neither `q` nor SIGTERM: only SIGKILL, seconds later, ends it.
    process.kill(pid, 'SIGSTOP');
    expect(await down).toMatchObject({ camera: 'cam-1', reason: 'stall' });
    expect(rig.recorder.status()[0]?.pid).toBe(pid);
    expect(() => process.kill(pid, 0)).not.toThrow(); // still there when the alarm goes out
    await up;
    expect(rig.recorder.status()[0]?.pid).not.toBe(pid);
  });
});
