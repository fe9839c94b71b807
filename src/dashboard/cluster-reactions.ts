import type { Logger } from '../lib/logger.js';
import type { CentralMessenger } from './central-messenger.js';
import type { ClusterEventsOptions } from './cluster-events.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';

/**
 * What this dashboard instance does when the cluster's notices say that credentials changed
 * outside it (their sets are published again, once the messenger runs and can sign) or that
 * gateways were retired (it forgets them, and their events are refused).
 */
export function clusterReactions(
  messenger: () => CentralMessenger | undefined,
  registry: GatewayRegistry,
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
    },
  };
}
