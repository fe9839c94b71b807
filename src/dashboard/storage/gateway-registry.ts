import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { importEncryptionKey } from '../../protocol/ecies.js';
import { importPublicKey } from '../../protocol/signing.js';

/**
 * The gateways this dashboard instance trusts, with their public keys: one to verify their
 * events, one to encrypt their credential sets to. Trusted are the gateways its configuration
 * lists (and those a demo or a test trusts in code), unless retired; the database keeps every
 * gateway ever trusted, for the history its events refer to, and which were retired
 * (gateway-retirement.ts). Held in memory for the ingest's lookups.
 */
export interface RegisteredGateway {
  site: string;
  id: string;
  signingKey: KeyObject;
  encryptionKey?: KeyObject;
}

export class GatewayRegistry {
  private readonly byId = new Map<string, RegisteredGateway>();

  constructor(private readonly pool: Pool) {}

  /**
   * Trusts (or re-keys) a gateway. A retired id is refused (IDG_GATEWAY_RETIRED): its numbering
   * ended with its retirement, and a replacement gets an id of its own.
   */
  async register(site: string, id: string, signingKey: string, encryptionKey?: string): Promise<void> {
    // Checked before anything is remembered: keys that do not parse change nothing.
    const entry = gatewayEntry(site, id, signingKey, encryptionKey);
    const result = await this.pool.query<{ retired_at: Date | null; retired_reason: string | null }>(
      `INSERT INTO gateways (site, id, signing_key, encryption_key) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, id) DO UPDATE SET signing_key = EXCLUDED.signing_key, encryption_key = EXCLUDED.encryption_key
         WHERE gateways.retired_at IS NULL
       RETURNING retired_at, retired_reason`,
      [site, id, signingKey, encryptionKey ?? null],
    );
    if (result.rows.length === 0) {
      const retired = await this.retirement(site, id);
      this.forget(site, id);
      throw new CodedError(
        'IDG_GATEWAY_RETIRED',
        `gateway ${site}/${id} was retired on ${retired?.at.toISOString() ?? '?'} (${retired?.reason ?? 'no reason given'}) and is not trusted again; give its replacement a new id`,
      );
    }
    this.byId.set(`${site}/${id}`, entry);
  }

  /** When and why a gateway was retired; undefined while it is not. */
  async retirement(site: string, id: string): Promise<{ at: Date; reason: string | null } | undefined> {
    const result = await this.pool.query<{ retired_at: Date; retired_reason: string | null }>(
      'SELECT retired_at, retired_reason FROM gateways WHERE site = $1 AND id = $2 AND retired_at IS NOT NULL',
      [site, id],
    );
    const row = result.rows[0];
    return row ? { at: row.retired_at, reason: row.retired_reason } : undefined;
  }

  /**
   * Gateways once trusted, not retired, that `configured` no longer lists: this instance does
   * not trust them, and a gap of theirs stays open until they are retired.
   */
  async unlisted(configured: ReadonlyArray<{ site: string; id: string }>): Promise<string[]> {
    const listed = new Set(configured.map((g) => `${g.site}/${g.id}`));
    const result = await this.pool.query<{ site: string; id: string }>(
      'SELECT site, id FROM gateways WHERE retired_at IS NULL ORDER BY site, id',
    );
    return result.rows.map((r) => `${r.site}/${r.id}`).filter((name) => !listed.has(name));
  }

  /**
   * Forgets the gateways retired since they were trusted here (by `identgate gateways retire`,
   * announced to every instance); returns them as `site/id`.
   */
  async dropRetired(): Promise<string[]> {
    if (this.byId.size === 0) return [];
    const result = await this.pool.query<{ site: string; id: string }>(
      "SELECT site, id FROM gateways WHERE retired_at IS NOT NULL AND site || '/' || id = ANY($1::text[])",
      [[...this.byId.keys()]],
    );
    const dropped = result.rows.map((r) => `${r.site}/${r.id}`);
    for (const name of dropped) this.byId.delete(name);
    return dropped;
  }

  /** Trusts a gateway in this process only, without the database (a benchmark's stand-in). */
  remember(site: string, id: string, signingKey: string, encryptionKey?: string): RegisteredGateway {
    const entry = gatewayEntry(site, id, signingKey, encryptionKey);
    this.byId.set(`${site}/${id}`, entry);
    return entry;
  }

  forget(site: string, id: string): void {
    this.byId.delete(`${site}/${id}`);
  }

  get(site: string, id: string): RegisteredGateway | undefined {
    return this.byId.get(`${site}/${id}`);
  }

  keyFor = (site: string, id: string): KeyObject | undefined => this.get(site, id)?.signingKey;

  all(): RegisteredGateway[] {
    return [...this.byId.values()];
  }

  ofSite(site: string): RegisteredGateway[] {
    return this.all().filter((g) => g.site === site);
  }
}

function gatewayEntry(
  site: string,
  id: string,
  signingKey: string,
  encryptionKey?: string,
): RegisteredGateway {
  return {
    site,
    id,
    signingKey: importPublicKey(signingKey),
    ...(encryptionKey ? { encryptionKey: importEncryptionKey(encryptionKey) } : {}),
  };
}
