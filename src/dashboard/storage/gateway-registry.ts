import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { importEncryptionKey } from '../../protocol/ecies.js';
import { importPublicKey } from '../../protocol/signing.js';

/**
 * The gateways the central side trusts, with their public keys: one to verify their events, one
 * to encrypt their credential sets to. Kept in PostgreSQL (so every dashboard instance knows them)
 * and in memory for the ingest's lookups.
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

  async load(): Promise<void> {
    const result = await this.pool.query<{
      site: string;
      id: string;
      signing_key: string;
      encryption_key: string | null;
    }>('SELECT site, id, signing_key, encryption_key FROM gateways');
    for (const row of result.rows)
      this.remember(row.site, row.id, row.signing_key, row.encryption_key ?? undefined);
  }

  /** Registers (or re-keys) a gateway. */
  async register(site: string, id: string, signingKey: string, encryptionKey?: string): Promise<void> {
    this.remember(site, id, signingKey, encryptionKey);
    await this.pool.query(
      `INSERT INTO gateways (site, id, signing_key, encryption_key) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, id) DO UPDATE SET signing_key = EXCLUDED.signing_key, encryption_key = EXCLUDED.encryption_key`,
      [site, id, signingKey, encryptionKey ?? null],
    );
  }

  /** Remembers a gateway in this process only (before the database is reachable). */
  remember(site: string, id: string, signingKey: string, encryptionKey?: string): RegisteredGateway {
    const entry: RegisteredGateway = {
      site,
      id,
      signingKey: importPublicKey(signingKey),
      ...(encryptionKey ? { encryptionKey: importEncryptionKey(encryptionKey) } : {}),
    };
    this.byId.set(`${site}/${id}`, entry);
    return entry;
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

  async seen(site: string, id: string): Promise<void> {
    await this.pool.query('UPDATE gateways SET last_seen_at = now() WHERE site = $1 AND id = $2', [site, id]);
  }
}
