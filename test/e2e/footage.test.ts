import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { SyntheticCamera } from '../../src/gateway/recorder/synthetic-camera.js';
import { silentLogger } from '../../src/lib/logger.js';
import { launchBrowser, pageWithSession } from '../helpers/browser.js';
import { binaries, videoSettings } from '../helpers/recorder-rig.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** What the page's player shows; these functions run in the page (no DOM types in this project). */
interface PlayerElement {
  readyState: number;
  error: { code: number } | null;
  duration: number;
  videoWidth: number;
  getAttribute(name: string): string | null;
}
interface ImageElement {
  complete: boolean;
  naturalWidth: number;
}
type Query = { document: { querySelector(selector: string): unknown } };
const ready = () => {
  const video = (globalThis as unknown as Query).document.querySelector(
    'video.footage',
  ) as PlayerElement | null;
  return video !== null && (video.readyState >= 1 || video.error !== null);
};
const playerState = () => {
  const { document } = globalThis as unknown as Query;
  const video = document.querySelector('video.footage') as PlayerElement;
  const image = document.querySelector('img.footage') as ImageElement | null;
  return {
    duration: video.duration,
    width: video.videoWidth,
    error: video.error ? video.error.code : null,
    src: video.getAttribute('src'),
    image: image?.complete ? image.naturalWidth : null,
  };
};
const imageLoaded = () =>
  ((globalThis as unknown as Query).document.querySelector('img.footage') as ImageElement | null)
    ?.complete === true;

/**
 * The Footage page in a real browser: Chromium's own <video> plays the MP4 the gateway recorded,
 * fetched with range requests, under the dashboard's Content-Security-Policy.
 */
describe('footage in a browser', () => {
  let system: TestSystem;
  let source: SyntheticCamera;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const footageStatuses: number[] = [];
  let from = '';
  let to = '';

  beforeAll(async () => {
    source = new SyntheticCamera({ ffmpeg: binaries.ffmpeg, log: silentLogger });
    await source.start();
    system = await startTestSystem({
      gatewayConfig: {
        video: videoSettings({
          cameras: [
            {
              id: 'cam-1',
              room: 'ident-1',
              url: source.url,
              transport: 'udp',
              segmentSeconds: 1,
              enabled: true,
            },
          ],
        }),
      },
    });
    const segments: Array<{ start: string; end: string }> = [];
    await new Promise<void>((resolve) => {
      const off = system.gateway.bus.on('test', 'recorded', (event) => {
        if (event.kind !== 'video.segment') return;
        segments.push(event.data);
        if (segments.length === 4) {
          off();
          resolve();
        }
      });
    });
    from = segments[0]?.start as string;
    to = segments[3]?.end as string;
    const security = await system.staff('security');
    browser = await launchBrowser();
    page = await pageWithSession(browser, security.cookie, errors);
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('response', (response) => {
      if (response.url().includes('/footage?')) footageStatuses.push(response.status());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    await source?.stop();
  });

  it('plays a time range in the page’s <video> element, fetched with range requests', async () => {
    const query = new URLSearchParams({ site: system.site, gateway: 'gw-1', camera: 'cam-1', from, to });
    await page.goto(`${system.dashboard.url}/#/footage?${query}`);
    const video = page.locator('video.footage');
    await video.waitFor();
    await page.waitForFunction(ready);
    const state = await page.evaluate(playerState);
    expect(state.error).toBeNull();
    expect(state.width).toBe(320);
    expect(state.duration).toBeGreaterThan(2);
    expect(footageStatuses.length).toBeGreaterThan(0);
    expect(footageStatuses.every((status) => status === 206)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('links a forced door on the events page to its clip and snapshot, which the page shows', async () => {
    const linked = new Promise<number>((resolve) => {
      const off = system.gateway.bus.on('test', 'recorded', (event) => {
        if (event.kind !== 'video.footage-linked') return;
        off();
        resolve(event.seq);
      });
    });
    await runSim({ action: ['door', 'open'], door: 'main', socket: system.gateway.simSocketPath });
    const seq = await linked;
    await runSim({ action: ['door', 'close'], door: 'main', socket: system.gateway.simSocketPath });
    expect(await system.dashboard.waitForSequence(system.site, 'gw-1', seq, 15_000)).toBe(true);
    await page.goto(`${system.dashboard.url}/#/events?kind=door.forced`);
    await page.locator('a.footage-link').first().click();
    await page.waitForFunction(ready);
    const state = await page.evaluate(playerState);
    expect(state.error).toBeNull();
    expect(state.src).toMatch(/^\/api\/v1\/events\/[0-9a-f-]{36}\/clip$/);
    expect(state.duration).toBeGreaterThan(0.5);
    await page.waitForFunction(imageLoaded);
    expect((await page.evaluate(playerState)).image).toBe(320);
    expect(errors).toEqual([]);
  }, 90_000);

  it('shows why when there is no footage, instead of an empty player', async () => {
    const old = new Date(Date.parse(from) - 90 * 86_400_000).toISOString();
    const query = new URLSearchParams({
      site: system.site,
      gateway: 'gw-1',
      camera: 'cam-1',
      from: old,
      to: new Date(Date.parse(old) + 60_000).toISOString(),
    });
    errors.length = 0;
    await page.goto(`${system.dashboard.url}/#/footage?${query}`);
    await page.getByText(/no footage of cam-1/).waitFor();
    expect(await page.locator('video.footage').count()).toBe(0);
  });
});
