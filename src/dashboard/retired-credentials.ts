import type pg from 'pg';
import type { Logger } from '../lib/logger.js';
import { topics } from '../protocol/topics.js';
import { writeAudit } from './audit/audit-log.js';
import type { CentralMessenger } from './central-messenger.js';
import { SITE_LOCK_SQL } from './credential-publisher.js';
import { inTransaction } from './storage/database.js';

/**
 * A retired gateway's last credential set stays retained on the broker until it is deleted:
 * names, badges and TOTP secrets, encrypted to the key a stolen gateway still holds, and never
 * updated again (an erasure's set no longer goes to it). Every dashboard instance deletes it, with
 * an empty retained message, when it learns of a retirement and at its start. Under the site's
 * credential lock: a set of this instance's still on its way (read before it forgot the gateway)
 * reaches the broker first. Idempotent; audited the first time (`gateway.credentials-cleared`).
 */
export const CLEARED_ACTION = 'gateway.credentials-cleared';

/**
 * Deletes the retained set of every retired gateway; returns those done as `site/id`. The first
 * failure ends the round (logged with the gateways left).
 */
export async function clearRetiredCredentials(
  pool: pg.Pool,
  messenger: CentralMessenger,
  log: Logger,
): Promise<string[]> {
  const retired = await pool.query<{ site: string; id: string }>(
    'SELECT site, id FROM gateways WHERE retired_at IS NOT NULL ORDER BY site, id',
  );
  const cleared: string[] = [];
  for (const [index, { site, id }] of retired.rows.entries()) {
    const gateway = `${site}/${id}`;
    const topic = topics.credentials(site, id);
    try {
      const first = await inTransaction(pool, log, async (client) => {
        await client.query(SITE_LOCK_SQL, [site]);
        await messenger.deleteRetained(topic);
        const audited = await client.query(
          'SELECT 1 FROM audit_log WHERE action = $1 AND target = $2 LIMIT 1',
          [CLEARED_ACTION, gateway],
        );
        if (audited.rows.length > 0) return false;
        await writeAudit(client, {
          actor: 'system',
          action: CLEARED_ACTION,
          target: gateway,
          details: { topic },
        });
        return true;
      });
      cleared.push(gateway);
      if (first)
        log.info({ gateway, topic }, 'retained credential set of a retired gateway deleted from the broker');
      else log.debug({ gateway, topic }, 'retained credential set of a retired gateway deleted again');
    } catch (error) {
      // Most likely the broker does not answer: each of the others would wait as long again.
      log.error(
        { err: error, gateways: retired.rows.slice(index).map((r) => `${r.site}/${r.id}`) },
        'retained credential sets of retired gateways not deleted; tried again at the next retirement notice, catch-up or start',
      );
      break;
    }
  }
  return cleared;
}
