import { rmSync } from 'node:fs';
import type { Pool } from 'pg';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import { FOOTAGE_DIR_PREFIX, makeScratchDir } from '../scratch-dirs.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import {
  type FetchedFootage,
  FootageClient,
  type FootageClientOptions,
  FootageError,
} from './footage-client.js';

/**
 * Footage for the browser: fetched from the gateway that recorded it, kept for a few minutes as a
 * "view" so the player's range requests (seeking) are served from one file, and audited once per
 * view — who, which camera, which range or event, and what came of it. The decrypted file is
 * deleted once its view is no longer served: expired, replaced, or at stop (what a crash leaves
 * behind, the next dashboard start removes: scratch-dirs.ts).
 */
export interface VideoServiceOptions {
  client: Omit<FootageClientOptions, 'dir' | 'clock' | 'log'>;
  pool: Pool;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  /** Where a footage link naming another gateway's event raises its incident (`footage-link-foreign`). */
  alarms?: Pick<AlarmStore, 'raiseCentralUnlessOpen'>;
  alarmsChanged?: (changed: AlarmView[]) => void;
  /** A view is kept this long after its last request. */
  viewTtlMs?: number;
  /** Makes the footage channel (a test's stand-in for the gateways); a FootageClient by default. */
  channel?: (options: FootageClientOptions) => FootageChannel;
}

export type FootageChannel = Pick<FootageClient, 'start' | 'stop' | 'fetch'>;

/** The longest range one view may cover; longer stretches are watched as several views. */
export const MAX_VIEW_MS = 30 * 60_000;

export type EventFootageKind = 'clip' | 'snapshot';

/**
 * What each kind of footage is, and is served as, whatever the gateway declares: the type is
 * the dashboard's to set, for a compromised gateway naming text/html would have its answer run
 * as a page of the dashboard's own origin.
 */
export const FOOTAGE_TYPES = { range: 'video/mp4', clip: 'video/mp4', snapshot: 'image/jpeg' } as const;

interface View {
  footage: Promise<FetchedFootage>;
  expiresAt: number;
}

interface FootageRef {
  id: string;
  sha256: string;
}

export class VideoService {
  private readonly views = new Map<string, View>();
  private client: FootageChannel | undefined;
  private dir: string | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: VideoServiceOptions) {}

  async start(): Promise<void> {
    const dir = await makeScratchDir(FOOTAGE_DIR_PREFIX);
    this.dir = dir;
    const channel = this.options.channel ?? ((options) => new FootageClient(options));
    this.client = channel({ ...this.options.client, dir, clock: this.options.clock, log: this.options.log });
    await this.client.start();
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.client?.stop();
    this.client = undefined;
    this.views.clear();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Whether footage can be requested at all (the central signing key is configured). */
  get canRequest(): boolean {
    return this.options.client.signingKey !== undefined;
  }

  /** A camera's footage between two times, from the gateway that records it. */
  footage(actor: string, site: string, gateway: string, camera: string, fromMs: number, toMs: number) {
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    return this.view(
      `${actor}\n${site}/${gateway}/${camera}\n${from}\n${to}`,
      { actor, target: `${site}/${gateway}/${camera}`, details: { kind: 'range', from, to } },
      async () =>
        ofType(await this.requireClient().fetch(site, gateway, { kind: 'range', camera, from, to }), 'range'),
    );
  }

  /**
   * A gateway that names another gateway's event in its footage links is misconfigured or
   * compromised: a critical incident per such gateway, raised once while open. A failure to raise
   * it is logged; the footage is served (or refused) all the same.
   */
  private async foreignLinks(eventId: string, rows: ReadonlyArray<{ site: string; gateway: string }>) {
    const { alarms, log } = this.options;
    if (!alarms) return;
    for (const { site, gateway } of new Map(rows.map((r) => [`${r.site}/${r.gateway}`, r])).values()) {
      try {
        const raised = await alarms.raiseCentralUnlessOpen({
          alarm: 'footage-link-foreign',
          key: `footage-link-foreign:${site}/${gateway}`.slice(0, 200),
          severity: 'critical',
          site,
          gateway,
          detail: `gateway ${site}/${gateway} linked footage to event ${eventId} of another gateway (ignored): misconfigured or compromised`,
        });
        this.options.alarmsChanged?.(raised);
      } catch (error) {
        log.error(
          { err: error, site, gateway },
          'the incident of a foreign footage link could not be raised',
        );
      }
    }
  }

  /**
   * The clip or snapshot a gateway linked to a door event (`video.footage-linked`), checked
   * against the SHA-256 the event named. `camera` picks one when several cameras saw the event.
   */
  async eventFootage(actor: string, eventId: string, kind: EventFootageKind, camera?: string) {
    // Only the gateway that recorded the event links footage to it: any gateway can name any
    // event id, and chooses the time of its own link, so another's would otherwise come first.
    const found = await this.options.pool.query<{
      site: string;
      gateway: string;
      data: Record<string, unknown>;
      own: boolean | null;
    }>(
      `SELECT l.site, l.gateway, l.data, (l.site = e.site AND l.gateway = e.gateway) AS own
         FROM events l
         LEFT JOIN events e ON e.id = $1::text::uuid AND e.kind <> 'video.footage-linked'
        WHERE l.kind = 'video.footage-linked' AND l.data->>'event' = $1::text
          AND ($2::text IS NULL OR l.data->>'camera' = $2)
        ORDER BY l.occurred_at, l.ingest_no`,
      [eventId, camera ?? null],
    );
    const foreign = found.rows.filter((row) => row.own === false);
    if (foreign.length > 0) {
      this.options.log.warn(
        { event: eventId, from: foreign.map((row) => `${row.site}/${row.gateway}`) },
        "security: footage linked to an event by another gateway than the event's; ignored",
      );
      await this.foreignLinks(eventId, foreign);
    }
    const links = found.rows.filter((row) => row.own === true);
    if (links.length === 0)
      throw new FootageError(
        'not-found',
        `no footage is linked to event ${eventId}${camera ? ` on ${camera}` : ''}`,
      );
    const link = links.find((row) => isRef(row.data[kind]));
    if (!link) {
      const missing = links.map((row) => row.data.missing).find((m) => typeof m === 'string');
      throw new FootageError('not-found', `the event has no ${kind}${missing ? `: ${missing}` : ''}`);
    }
    const ref = link.data[kind] as FootageRef;
    const linkedCamera = String(link.data.camera);
    const target = `${link.site}/${link.gateway}/${linkedCamera}`;
    return this.view(
      `${actor}\n${target}\n${eventId}\n${kind}`,
      {
        actor,
        target,
        details: { kind, event: eventId, from: link.data.from, to: link.data.to, file: ref.id },
      },
      async () => {
        const footage = await this.requireClient().fetch(link.site, link.gateway, {
          kind: 'file',
          file: ref.id,
        });
        if (footage.sha256 !== ref.sha256) {
          rmSync(footage.path, { force: true });
          throw new FootageError(
            'integrity',
            `the ${kind} hashes to ${footage.sha256}, the event named ${ref.sha256}`,
          );
        }
        return ofType(footage, kind);
      },
    );
  }

  /**
   * One person's view: a request while it lasts is served from the same file. What is cached is
   * the footage once its view is audited, so a request that joins a view whose audit failed
   * fails with it; the file of such a view is deleted.
   */
  private view(
    key: string,
    audit: { actor: string; target: string; details: Record<string, unknown> },
    fetch: () => Promise<FetchedFootage>,
  ): Promise<FetchedFootage> {
    const now = this.options.clock.now();
    const ttl = this.options.viewTtlMs ?? 5 * 60_000;
    const known = this.views.get(key);
    if (known && known.expiresAt > now) {
      known.expiresAt = now + ttl;
      return known.footage;
    }
    // Expired, and not swept yet: its file goes before the new view takes its place.
    if (known) release(known);
    const view: View = { footage: this.audited(audit, fetch), expiresAt: now + ttl };
    this.views.set(key, view);
    view.footage.catch(() => {
      if (this.views.get(key) === view) this.views.delete(key);
    });
    return view.footage;
  }

  private async audited(
    audit: { actor: string; target: string; details: Record<string, unknown> },
    fetch: () => Promise<FetchedFootage>,
  ): Promise<FetchedFootage> {
    const { actor, target, details } = audit;
    let fetched: FetchedFootage;
    try {
      fetched = await fetch();
    } catch (error) {
      await this.options.audit.record({
        actor,
        action: 'video.view',
        target,
        details: {
          ...details,
          result: error instanceof FootageError ? error.failure : 'failed',
          reason: (error as Error).message.slice(0, 300),
        },
      });
      throw error;
    }
    try {
      await this.options.audit.record({
        actor,
        action: 'video.view',
        target,
        details: { ...details, result: 'ok', bytes: fetched.bytes, sha256: fetched.sha256 },
      });
    } catch (error) {
      // Not audited, not served: to this request or any that joined the view.
      rmSync(fetched.path, { force: true });
      throw error;
    }
    return fetched;
  }

  private sweep(): void {
    const now = this.options.clock.now();
    for (const [key, view] of this.views) {
      if (view.expiresAt > now) continue;
      this.views.delete(key);
      release(view);
    }
  }

  private requireClient(): FootageChannel {
    if (!this.client) throw new FootageError('failed', 'the footage channel is not running');
    return this.client;
  }
}

/** The footage if the gateway declared it as what was asked for; refused (and deleted) otherwise. */
function ofType(footage: FetchedFootage, kind: keyof typeof FOOTAGE_TYPES): FetchedFootage {
  const expected = FOOTAGE_TYPES[kind];
  const declared = footage.contentType.split(';')[0]?.trim().toLowerCase();
  if (declared === expected) return footage;
  rmSync(footage.path, { force: true });
  throw new FootageError(
    'wrong-type',
    `the gateway declared the ${kind === 'range' ? 'footage' : kind} as ${JSON.stringify(footage.contentType)}, not ${expected}`,
  );
}

/** Deletes a view's file, once it is fetched. */
function release(view: View): void {
  view.footage.then(
    (footage) => rmSync(footage.path, { force: true }),
    () => undefined, // a failed view left no file: deleted where it failed
  );
}

function isRef(value: unknown): value is FootageRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as FootageRef).id === 'string' &&
    typeof (value as FootageRef).sha256 === 'string'
  );
}
