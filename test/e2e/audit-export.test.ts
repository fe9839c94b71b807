import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExportCommand } from '../../src/cli/export-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { launchBrowser } from '../helpers/browser.js';
import { opensslVerify, sha256sumCheck } from '../helpers/bundle-tools.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const run = promisify(execFile);
const totp = new TotpVerifier();

/** An auditor exports the access log from the audit page: re-authentication, then a bundle that verifies. */
describe('the export form in a browser', () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const auditor = { login: 'ada-auditor', password: 'nine paper cranes at noon' };
  let lastStep = 0;
  const code = (secret: string) => {
    let step = Math.floor(system.clock.now() / 30_000);
    if (step <= lastStep) {
      system.clock.advance((lastStep + 1 - step) * 30_000);
      step = lastStep + 1;
    }
    lastStep = step;
    return totp.generate(secret, step * 30_000 + 1);
  };

  beforeAll(async () => {
    system = await startTestSystem();
    const pool = new pg.Pool({ connectionString: system.databaseUrl, max: 1 });
    await pool.query(`SELECT identgate_ensure_event_partitions('2026-02-01', '2026-02-01')`);
    await pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       VALUES (gen_random_uuid(), '2026-02-01T09:30:00Z', 1, $1, 'gw-1', 900001, 'access.granted', 'main', 'p-1',
               '{"door":"main","direction":"in","person":"p-1","badge":"b-1","factors":["badge","totp"],"unlockMs":5000}', 'sig')`,
      [system.site],
    );
    await pool.end();
    await system.dashboard.auth.createAccount(
      { login: auditor.login, displayName: 'Ada Auditor', password: auditor.password, role: 'auditor' },
      { tool: 'test-setup' },
    );
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 40[13]/.test(message.text())) errors.push(message.text());
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('downloads a signed bundle after the password and a fresh code', async () => {
    await page.goto(system.dashboard.url as string);
    await page.locator('#login-form input[name="login"]').fill(auditor.login);
    await page.locator('#login-form input[name="password"]').fill(auditor.password);
    await page.locator('#login-form button[type="submit"]').click();
    await page.locator('#enrol-start').click();
    await page.locator('#enrol-form img.qr').waitFor();
    const secret = (await page.locator('#enrol-secret').textContent()) as string;
    await page.locator('#enrol-form input[name="code"]').fill(code(secret));
    await page.locator('#enrol-form button[type="submit"]').click();
    await page.locator('nav a[data-page="audit"]').click();
    const form = page.locator('#export-form');
    await form.locator('input[name="from"]').fill('2026-02-01T00:00');
    await form.locator('input[name="to"]').fill('2026-02-02T00:00');
    await form.locator('select[name="format"]').selectOption('jsonl');
    await form.locator('button[type="submit"]').click();
    await page.locator('#reauth[open]').waitFor();
    await page.locator('#reauth-form input[name="password"]').fill(auditor.password);
    await page.locator('#reauth-form input[name="code"]').fill(code(secret));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#reauth-form button[type="submit"]').click(),
    ]);
    expect(download.suggestedFilename()).toBe('identgate-export-2026-02-01-2026-02-02.tar');
    const dir = mkdtempSync(join(tmpdir(), 'idg-e2e-export-'));
    await download.saveAs(join(dir, 'bundle.tar'));
    await run('tar', ['-xf', 'bundle.tar'], { cwd: dir });
    const bundle = join(dir, 'identgate-export-2026-02-01-2026-02-02');
    const sums = await sha256sumCheck(bundle);
    expect(sums.code).toBe(0);
    expect(sums.out).toContain('access-log.jsonl: OK');
    const signature = await opensslVerify(bundle);
    expect(signature.code).toBe(0);
    expect(signature.out).toContain('Signature Verified Successfully');
    // The auditor's own check, pinned to the operator's central key: the one row of that day.
    const verified = await runExportCommand(['verify', bundle, '--public-key', system.centralPublicKey]);
    expect(verified.lines).toEqual([
      expect.stringMatching(
        new RegExp(
          `^OK: 1 rows, 1 anchored in \\d+ chain links; .*; signed by ${system.centralPublicKey} \\(the key given with --public-key\\)$`,
        ),
      ),
      "content: 1 rows hash to their chain links' digests and agree with their columns",
    ]);
    expect(verified.code).toBe(0);
    const rows = readFileSync(join(bundle, 'access-log.jsonl'), 'utf8').trim().split('\n');
    expect(rows.map((row) => JSON.parse(row))).toEqual([
      expect.objectContaining({ when: '2026-02-01T09:30:00.000000Z', person: 'p-1', decision: 'granted' }),
    ]);
    await page.locator('.toast', { hasText: 'Saved identgate-export-2026-02-01-2026-02-02.tar' }).waitFor();
  });

  it('logged no errors in the browser', () => {
    expect(errors).toEqual([]);
  });
});
