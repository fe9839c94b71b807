import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { launchBrowser, pageWithSession } from '../helpers/browser.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * A site lockdown on the live page, in a real browser: the gateway holds its site in lockdown (as
 * after a door state it could not read), the page shows it as site-wide and keeps the room
 * locked down by it after the room's own lockdown ended, and the officer ends it from the page.
 */
describe('a site lockdown on the live page', () => {
  let system: TestSystem;
  let officer: StaffClient;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  const sim = (...action: string[]) => runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
  const siteItem = () => page.locator(`#sites li[data-site="${system.site}"]`);
  const roomItem = () => page.locator(`#rooms li[data-room="${system.site}/ident-1"]`);
  /** Answers the next `window.prompt` with the reason; resolves to what it asked. */
  const answerPrompt = (reason: string) =>
    new Promise<string>((resolve) => {
      page.once('dialog', async (dialog) => {
        await dialog.accept(reason);
        resolve(`${dialog.type()}: ${dialog.message()}`);
      });
    });

  beforeAll(async () => {
    system = await startTestSystem();
    officer = await system.staff('security');
    browser = await launchBrowser();
    page = await pageWithSession(browser, officer.cookie, errors);
    page.on('console', (message) => {
      // The action is refused once for want of a re-authentication, as designed.
      if (message.type() === 'error' && !/status of 403/.test(message.text())) errors.push(message.text());
    });
    await page.goto(`${system.dashboard.url}/#/live`);
    await page.locator('#connection[data-state="live"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('shows the site without a lockdown, with a control for officers, before any room is known', async () => {
    await siteItem().filter({ hasText: 'no site lockdown, no evacuation' }).waitFor();
    expect(await siteItem().getByRole('button').allTextContents()).toEqual(['Site lockdown…', 'Evacuate…']);
  });

  it('shows a lockdown the gateway holds its site in as site-wide, on the site and on its rooms', async () => {
    system.gateway.setLockdown(true, 'ident-1');
    await roomItem()
      .locator('.flag', { hasText: /^LOCKDOWN$/ })
      .waitFor();
    system.gateway.setLockdown(true);
    await siteItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN$/ })
      .waitFor();
    expect(await siteItem().getAttribute('class')).toContain('flagged');
    expect(await siteItem().locator('small').textContent()).toBe('lockdown reported by gw-1');
    await roomItem()
      .locator('.flag', { hasText: /^LOCKDOWN · SITE LOCKDOWN$/ })
      .waitFor();
    expect(await sim('badge', system.agent.badge)).toEqual(['denied: lockdown']);
  });

  it("keeps the room shown locked down by its site after the room's own lockdown ended", async () => {
    system.gateway.setLockdown(false, 'ident-1');
    await roomItem().getByRole('button', { name: 'Lockdown…' }).waitFor();
    expect(await roomItem().locator('.flag').textContent()).toBe('SITE LOCKDOWN');
    expect(await roomItem().getAttribute('class')).toContain('flagged');
  });

  it('lets the officer end the site lockdown from the page, with a reason and a re-authentication', async () => {
    const prompted = answerPrompt('door state checked, nothing was in force');
    await siteItem()
      .getByRole('button', { name: /^End site lockdown/ })
      .click();
    expect(await prompted).toMatch(/^prompt: End lockdown of site .*: every door of the site\./);

    await page.locator('#reauth-form input[name="password"]').fill(officer.password);
    await page.locator('#reauth-form input[name="code"]').fill(officer.code());
    await page.locator('#reauth-form button[type="submit"]').click();

    await page.locator('.toast', { hasText: 'site lockdown: ok' }).waitFor();
    await siteItem().filter({ hasText: 'no site lockdown' }).waitFor();
    expect(await siteItem().getAttribute('class')).not.toContain('flagged');
    await roomItem().and(page.locator(':not(.flagged)')).waitFor();
    expect(await roomItem().locator('.flag').count()).toBe(0);

    expect(await sim('badge', system.agent.badge)).toEqual(['awaiting code (20 s)']);
    expect(await sim('keypad', new TotpVerifier().generate(system.agent.secret, Date.now()))).toEqual([
      'granted: unlocked for 5 s',
    ]);
  });

  it('lets the officer start a site lockdown from the page, after a prompt that says it affects every door', async () => {
    const prompted = answerPrompt('intruder reported on the site');
    await siteItem()
      .getByRole('button', { name: /^Site lockdown…/ })
      .click();
    expect(await prompted).toMatch(
      /^prompt: Start lockdown of site .*: entry is refused at every door of the site\./,
    );
    await siteItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN$/ })
      .waitFor();
    await roomItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN$/ })
      .waitFor();
    expect(await sim('badge', system.agent.badge)).toEqual(['denied: lockdown']);
  });

  it('lets the officer start and end the evacuation of the site from its line, where no room is needed', async () => {
    let prompted = answerPrompt('fire alarm in the building');
    await siteItem()
      .getByRole('button', { name: /^Evacuate…/ })
      .click();
    expect(await prompted).toMatch(/^prompt: Start evacuation of site .* \(every door\)\./);
    await siteItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN · EVACUATION$/ })
      .waitFor();
    expect(await siteItem().locator('small').textContent()).toBe(
      'lockdown reported by gw-1; evacuation reported by gw-1',
    );
    await roomItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN · EVACUATION$/ })
      .waitFor();
    expect(await roomItem().getByRole('button', { name: 'End evacuation' }).count()).toBe(1);
    prompted = answerPrompt('all clear from the fire brigade');
    await siteItem()
      .getByRole('button', { name: /^End evacuation/ })
      .click();
    expect(await prompted).toMatch(/^prompt: End evacuation of site /);
    await siteItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN$/ })
      .waitFor();
    await roomItem()
      .locator('.flag', { hasText: /^SITE LOCKDOWN$/ })
      .waitFor();
  });

  it('logged no errors in the browser', () => {
    expect(errors).toEqual([]);
  });
});
