import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageWithSession } from '../helpers/browser.js';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * The Workstations page in a real browser: a workstation's last login check turns from denied to
 * allowed after a simulated badge-in, and back to denied after badge-out, without reloading.
 */
describe('the Workstations page in a browser', () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let token: string;
  const errors: string[] = [];

  const loginCheck = async () =>
    system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/workstations/ws-e2e/login-check',
      headers: { authorization: `Bearer ${token}` },
      payload: { user: system.agent.person },
    });
  const row = () => page.locator('#workstations-body tr[data-workstation="ws-e2e"]');

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    token = await registerWorkstation(system, 'ws-e2e');
    const security = await system.staff('security');
    browser = await launchBrowser();
    page = await pageWithSession(browser, security.cookie, errors);
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('shows the workstation denied before badge-in', async () => {
    await loginCheck();
    await page.goto(`${system.dashboard.url}/#/workstations`);
    await row().and(page.locator('[data-state="denied"]')).waitFor();
    expect(await row().locator('td').nth(3).textContent()).toContain('denied: not-present');
    expect(await row().locator('td').nth(2).textContent()).toBe('nobody');
  });

  it('turns to allowed, with the agent present, after badge-in and a login check', async () => {
    await badgeIn(system);
    await loginCheck();
    await row().and(page.locator('[data-state="allowed"]')).waitFor();
    expect(await row().locator('td').nth(2).textContent()).toContain(system.agent.person);
  });

  it('turns back to denied after badge-out', async () => {
    await badgeOut(system);
    await loginCheck();
    await row().and(page.locator('[data-state="denied"]')).waitFor();
    expect(await row().locator('td').nth(2).textContent()).toBe('nobody');
    // No lock agent runs here: the lock sent at the exit stays owed, and the page says so.
    await row().locator('td').nth(4).filter({ hasText: 'never reported; 1 lock not confirmed' }).waitFor();
    expect(errors).toEqual([]);
  });
});
