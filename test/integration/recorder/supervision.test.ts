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
});
