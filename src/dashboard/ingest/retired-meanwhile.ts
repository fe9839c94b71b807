import { CodedError } from '../../lib/coded-error.js';
import type { Checked } from './payload-checks.js';

/** Gateways retired after their events were checked here (see SequenceStore.noteHighest). */
export class RetiredMeanwhile extends CodedError {
  constructor(readonly gateways: string[]) {
    super('IDG_GATEWAY_RETIRED', `gateways retired meanwhile: ${gateways.join(', ')}`);
  }
}

/** Whose number a verdict names, as `site/id`: its event's, or the one a signed refusal uses. */
export function gatewayOf(checked: Checked): string | undefined {
  const use = checked.ok ? checked.value : checked.uses;
  return use ? `${use.site}/${use.gateway}` : undefined;
}
