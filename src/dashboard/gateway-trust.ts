import type { TrustedGateway } from '../config/dashboard-config.js';
import { hasCode } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';

/**
 * Trusts the gateways the configuration lists, except retired ones (logged: a configuration not
 * updated after a retirement must not trust the gateway again), and names those trusted before
 * that it no longer lists: not trusted, their gaps stay open until they are retired.
 */
export async function trustConfiguredGateways(
  registry: GatewayRegistry,
  gateways: readonly TrustedGateway[],
  log: Logger,
): Promise<void> {
  for (const gateway of gateways) {
    try {
      await registry.register(gateway.site, gateway.id, gateway.publicKey, gateway.encryptionKey);
    } catch (error) {
      if (!hasCode(error, 'IDG_GATEWAY_RETIRED')) throw error;
      log.error(
        { site: gateway.site, gateway: gateway.id },
        `${(error as Error).message}; remove it from gateways:`,
      );
    }
  }
  const unlisted = await registry.unlisted(gateways);
  if (unlisted.length > 0)
    log.warn(
      { gateways: unlisted },
      'gateways trusted before are no longer listed under gateways: their events are refused; retire them (identgate gateways retire) to record what they still owe as lost',
    );
}
