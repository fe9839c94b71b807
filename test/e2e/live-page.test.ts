import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

describe('the dashboard live page in a browser', () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    system = await startTestSystem();
    browser = await launchBrowser();
    const staff = await system.staff('security');
    const context = await browser.newContext();
    const [name, value] = staff.cookie.split('=') as [string, string];
    await context.addCookies([
      { name, value, domain: '127.0.0.1', path: '/', secure: true, httpOnly: true, sameSite: 'Strict' },
    ]);
    page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(system.dashboard.url as string);
    await page.locator('#connection[data-state="live"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  const sim = (...action: string[]) => runSim({ action, door: 'main', socket: system.gateway.simSocketPath });

  const cellText = (kind: string, column: number) =>
    page.locator(`#events tr[data-kind="${kind}"] td`).nth(column).textContent();

  it('shows the events stored before the page was opened', async () => {
    expect(await page.locator('#events tr[data-kind="gateway.online"]').count()).toBe(1);
  });

  it('shows a granted entry live, without reloading, and the door tile turns unlocked', async () => {
    await sim('badge', system.agent.badge);
    await sim('keypad', new TotpVerifier().generate(system.agent.secret, Date.now()));
    await page.locator('#events tr[data-kind="access.granted"]').waitFor();
    expect(await cellText('access.granted', 3)).toBe('access granted');
    expect(await cellText('access.granted', 4)).toBe(`${system.agent.person} · ${system.agent.badge}`);
    await page.locator('.door.unlocked').waitFor();
    expect(await page.locator('.door.unlocked strong').textContent()).toBe('main');
  });

  it('shows a forced door as an alarm on its tile', async () => {
    await page.locator('#events tr[data-kind="door.locked"]').waitFor({ timeout: 15_000 });
    await sim('door', 'open');
    await page.locator('#events tr[data-kind="door.forced"]').waitFor();
    expect(await page.locator('.door.alarm span').textContent()).toBe('ALARM: forced');
  });

  it('renders event data as text, never as markup', async () => {
    const markup = '<img src=x onerror="document.title=1">';
    system.gateway.record({
      kind: 'access.denied',
      data: { door: 'main', direction: 'in', badge: 'B-X', reason: 'unknown-badge', detail: markup },
    });
    await page.locator('#events tr[data-kind="access.denied"]').waitFor();
    expect(await cellText('access.denied', 5)).toBe(`unknown badge: ${markup}`);
    expect(await page.locator('#events img').count()).toBe(0);
  });

  it('logged no errors in the browser', () => {
    expect(errors).toEqual([]);
  });
});
