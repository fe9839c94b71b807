import type { PoolClient } from 'pg';
import type { Rejection } from '../../protocol/envelope.js';
import { parseTopic } from '../../protocol/topics.js';
import type { AlarmView } from '../storage/alarm-store.js';
import { inTransaction } from '../storage/database.js';
import type { NumberUse } from '../storage/sequence-store.js';
import type { IngestOutcome, IngestPipelineOptions } from './ingest-pipeline.js';
import { RetiredMeanwhile } from './retired-meanwhile.js';

/**
 * Keeps a payload (or one event of a batch) that could not be stored at all, though it passed
 * every check, in the quarantine as `unstorable`, with the critical alarm every quarantined
 * payload raises, in a transaction of its own (see EventIngest: a poison message must not stall
 * the ingest). The alarm is pushed live after the commit.
 */
export async function quarantineUnstorable(
  options: Pick<
    IngestPipelineOptions,
    'pool' | 'log' | 'hub' | 'sequences' | 'registry' | 'quarantine' | 'alarms'
  >,
  topic: string,
  detail: string,
  payload: Buffer,
  uses?: NumberUse,
): Promise<IngestOutcome> {
  const { pool, log, hub, sequences, registry } = options;
  const rejection: Rejection = { ok: false, reason: 'unstorable', detail };
  const attempt = (use: NumberUse | undefined) =>
    inTransaction(pool, log, async (client) => {
      // The gateway signed this number: it is used, by an event kept in quarantine (see Checked).
      const claimed = use ? (await sequences.claim([use], client, new Set([use]))).fresh : [];
      // Alarms take chain locks: the ingest-order lock comes first, as in every ingest transaction.
      await client.query('SELECT identgate_take_ingest_order()');
      const raised = await quarantined(options, topic, rejection, payload, client);
      const retired = await sequences.noteHighest(claimed, client);
      if (retired.length > 0) throw new RetiredMeanwhile(retired);
      return raised;
    });
  let raised: AlarmView[];
  try {
    raised = await attempt(uses);
  } catch (error) {
    if (!(error instanceof RetiredMeanwhile && uses)) throw error;
    // Its gateway was retired meanwhile: kept all the same, but its number is not taken (the
    // retirement recorded the gateway's gaps as lost).
    error.forgetIn(registry);
    raised = await attempt(undefined);
  }
  hub.publishAlarms(raised);
  return { status: 'quarantined', rejection };
}

/**
 * Whether a quarantined payload raises the `event-quarantined` alarm: all do but an event of an
 * erased person, which a gateway offline during the erasure sends in good faith.
 */
export function raisesAlarm(reason: Rejection['reason']): boolean {
  return reason !== 'erased-person';
}

/**
 * Quarantines a payload with its reason and raises the critical `event-quarantined` alarm (unless
 * raisesAlarm says otherwise).
 */
export async function quarantined(
  stores: Pick<IngestPipelineOptions, 'quarantine' | 'alarms'>,
  topic: string,
  rejection: Rejection,
  payload: Buffer,
  client: PoolClient,
): Promise<AlarmView[]> {
  const { quarantine, alarms } = stores;
  await quarantine.add(topic, rejection.reason, rejection.detail, payload, client);
  if (!raisesAlarm(rejection.reason)) return [];
  const address = parseTopic(topic);
  const site = address.ok ? address.address.site : undefined;
  const gateway = address.ok ? address.address.gateway : undefined;
  return alarms.raiseCentral(
    {
      alarm: 'event-quarantined',
      key: `event-quarantined:${rejection.reason}`,
      severity: 'critical',
      ...(site ? { site } : {}),
      ...(gateway ? { gateway } : {}),
      detail: `${rejection.reason}: ${rejection.detail}`.slice(0, 500),
    },
    client,
  );
}
