import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'pg';
import { silentLogger } from '../../lib/logger.js';
import { AuditLog } from '../audit/audit-log.js';
import { AuthService } from '../auth/auth-service.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import { SessionStore } from '../auth/session-store.js';
import { ROLES, StaffStore } from '../auth/staff-store.js';
import { LiveHub } from '../live-hub.js';
import { AlarmStore } from '../storage/alarm-store.js';
import { EventStore } from '../storage/event-store.js';
import { type AppDependencies, buildApp, type RouteEntry } from './app.js';

/**
 * The role × route matrix of the dashboard API, generated from the routes themselves (each
 * declares its roles), so the documentation cannot drift from the code:
 * `npm run docs:routes` rewrites the block in docs/dashboard.md, and a test compares them.
 */
export function renderRouteMatrix(routes: readonly RouteEntry[]): string[] {
  const api = routes
    .filter((r) => r.url.startsWith('/api/') || r.url === '/healthz')
    .sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  const mark = (route: RouteEntry, role: string) =>
    typeof route.roles === 'string'
      ? route.roles
      : (route.roles as readonly string[]).includes(role)
        ? 'yes'
        : '—';
  const lines = [
    `| Method | Path | ${ROLES.join(' | ')} | Re-authentication |`,
    `|---|---|${ROLES.map(() => '---').join('|')}|---|`,
  ];
  for (const route of api) {
    const cells = ROLES.map((role) => mark(route, role));
    const extra = route.reauth
      ? 'required'
      : route.stage === 'pending'
        ? 'also before the second factor'
        : '';
    lines.push(`| ${route.method} | \`${route.url}\` | ${cells.join(' | ')} | ${extra} |`);
  }
  return lines;
}

/** Builds the application without starting anything (no database is contacted) to list its routes. */
export async function currentRouteMatrix(): Promise<string[]> {
  const pool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', max: 1 });
  const staff = new StaffStore(pool);
  const audit = new AuditLog(pool);
  const clock = { now: () => Date.now(), setTimeout: () => ({ cancel() {} }) };
  const auth = new AuthService({
    pool,
    staff,
    sessions: new SessionStore(pool),
    throttle: new LoginThrottle(pool),
    audit,
    alarms: new AlarmStore(pool),
    keys: undefined,
    clock,
  });
  const unused = new Proxy(
    {},
    {
      get: () => () => {
        throw new Error('not available while listing routes');
      },
    },
  );
  const deps = {
    pool,
    auth,
    audit,
    staff,
    events: new EventStore(pool, clock),
    hub: new LiveHub(),
    log: silentLogger,
    ping: async () => {},
    alarms: unused,
    people: unused,
    registry: unused,
    retention: unused,
    presence: unused,
    loginChecks: unused,
    messenger: () => unused,
  } as unknown as AppDependencies;
  const app = await buildApp(deps);
  await app.ready();
  const lines = renderRouteMatrix(app.routeTable);
  await app.close();
  await pool.end();
  return lines;
}

const BEGIN = '<!-- generated: role × route matrix -->\n';
const END = '<!-- end of generated matrix -->';

export function generatedBlock(markdown: string): string | undefined {
  const start = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  return start < 0 || end < start ? undefined : markdown.slice(start + BEGIN.length, end);
}

async function writeMatrix(file: string): Promise<void> {
  const markdown = readFileSync(file, 'utf8');
  if (generatedBlock(markdown) === undefined) throw new Error(`${file} has no generated matrix block`);
  const start = markdown.indexOf(BEGIN) + BEGIN.length;
  const end = markdown.indexOf(END);
  const lines = await currentRouteMatrix();
  writeFileSync(file, `${markdown.slice(0, start)}\n${lines.join('\n')}\n\n${markdown.slice(end)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[process.argv.indexOf('--write') + 1] ?? 'docs/dashboard.md';
  await writeMatrix(file);
  process.stdout.write(`${file}: role × route matrix updated\n`);
}
