import type pg from 'pg';
import type { Logger } from '../lib/logger.js';
import type { CentralMessenger } from './central-messenger.js';
import type { ClusterEventsOptions } from './cluster-events.js';
import { clearRetiredCredentials } from './retired-credentials.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';

/**
 * What this dashboard instance does when the cluster's notices say that credentials changed
 * outside it (their sets are published again, once the messenger runs and can sign) or that
 * gateways were retired (it forgets them, and their events are refused, and deletes their
 * retained credential sets from the broker).
 */
export function clusterReactions(
  messenger: () => CentralMessenger | undefined,
  registry: GatewayRegistry,
  pool: pg.Pool,
  log: Logger,
): Required<Pick<ClusterEventsOptions, 'credentialsChanged' | 'gatewaysRetired'>> {
  return {
    credentialsChanged: (site) => {
      const running = messenger();
      if (!running?.canSign) return;
      if (site === undefined) {
        running
          .publishAllCredentials()
          .catch((error: Error) => log.error({ err: error }, 'credential sets not published again'));
        return;
      }
      if (registry.ofSite(site).length === 0) return;
      running
        .publishCredentials(site)
        .catch((error: Error) =>
          log.error({ err: error, site }, 'credential sets not published after a change'),
        );
    },
    gatewaysRetired: async () => {
      const dropped = await registry.dropRetired();
      if (dropped.length > 0)
        log.warn({ gateways: dropped }, 'gateways retired: their events are refused from now on');
      // Not awaited: the cluster's notices must not wait for the broker. Without a broker
      // connection now, the start (or the next reconnect's catch-up) deletes them.
      const running = messenger();
      if (running?.connected)
        clearRetiredCredentials(pool, running, log).catch((error: Error) =>
          log.error({ err: error }, 'retained credential sets of retired gateways not deleted'),
        );
    },
  };
}
