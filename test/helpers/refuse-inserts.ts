import type pg from 'pg';

/**
 * Makes PostgreSQL refuse every insert into `table` whose row matches `when` (SQL on `NEW`, such
 * as `NEW.action LIKE 'person.%'`), with `sqlstate` — as a full disk (53100) or a broken
 * constraint would — through a trigger; answers the function that removes it again. For tests
 * that prove a change is not made, or not answered, without the row that must go with it.
 */
export async function refuseInserts(
  db: pg.ClientBase,
  table: 'audit_log' | 'alarms',
  when: string,
  sqlstate = '53100',
): Promise<() => Promise<void>> {
  const name = `test_refuse_${table}`;
  await db.query(`CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '${table} insert refused by the test' USING ERRCODE = '${sqlstate}'; END $$`);
  await db.query(
    `CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${name}()`,
  );
  return async () => {
    await db.query(`DROP TRIGGER ${name} ON ${table}`);
  };
}

/** {@link refuseInserts} for the audit entries of the actions matching `like` (a LIKE pattern). */
export const refuseAuditOf = (db: pg.ClientBase, like: string, sqlstate?: string) =>
  refuseInserts(db, 'audit_log', `NEW.action LIKE '${like}'`, sqlstate);
