import { CodedError } from '../../lib/coded-error.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import type { Checked } from './payload-checks.js';

/** Gateways retired after their events were checked here (see SequenceStore.noteHighest). */
export class RetiredMeanwhile extends CodedError {
  constructor(readonly gateways: string[]) {
    super('IDG_GATEWAY_RETIRED', `gateways retired meanwhile: ${gateways.join(', ')}`);
  }

  /** Forgets them here, as the retirement's notice would have it. */
  forgetIn(registry: Pick<GatewayRegistry, 'forget'>): void {
    for (const name of this.gateways) {
      const [site = '', id = ''] = name.split('/');
      registry.forget(site, id);
    }
  }
}

/** Whose number a verdict names, as `site/id`: its event's, or the one a signed refusal uses. */
export function gatewayOf(checked: Checked): string | undefined {
  const use = checked.ok ? checked.value : checked.uses;
  return use ? `${use.site}/${use.gateway}` : undefined;
}
