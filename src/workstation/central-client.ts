import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { CodedError } from '../lib/coded-error.js';

/**
 * The workstation's HTTP client to the dashboard: JSON POSTs with the workstation's bearer token,
 * a hard timeout, and a clear split between "central answered" (any HTTP status) and "central
 * unreachable" (no answer), which is what the fail-closed grace is about.
 */
export interface CentralClientOptions {
  url: string;
  workstation: string;
  token: string;
  /** PEM of the CA the dashboard's certificate chains to. */
  caFile?: string;
  timeoutMs: number;
}

export type CentralReply =
  | { reached: true; status: number; body: unknown }
  | { reached: false; detail: string };

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || (isIP(bare) === 4 && bare.startsWith('127.')) || bare === '::1';
}

export class CentralClient {
  private readonly base: URL;
  private readonly ca: Buffer | undefined;

  constructor(private readonly options: CentralClientOptions) {
    this.base = new URL(options.url);
    if (this.base.protocol === 'http:' && !isLoopback(this.base.hostname)) {
      throw new CodedError(
        'IDG_WORKSTATION_PLAIN_HTTP',
        `refusing plain http:// to ${this.base.hostname}: the token would travel in the clear; use https://`,
      );
    }
    this.ca = options.caFile ? readFileSync(options.caFile) : undefined;
  }

  post(path: string, body: unknown): Promise<CentralReply> {
    const url = new URL(
      `/api/v1/workstations/${encodeURIComponent(this.options.workstation)}${path}`,
      this.base,
    );
    const text = JSON.stringify(body);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send(
        url,
        {
          method: 'POST',
          timeout: this.options.timeoutMs,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            authorization: `Bearer ${this.options.token}`,
          },
          ...(this.ca ? { ca: this.ca } : {}),
          // Whatever NODE_TLS_REJECT_UNAUTHORIZED says: the login check trusts only a valid chain.
          rejectUnauthorized: true,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            resolve({ reached: true, status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', (error) => resolve({ reached: false, detail: error.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on('error', (error) => resolve({ reached: false, detail: error.message }));
      req.end(text);
    });
  }
}

/**
 * Answers that may be different later: central failing (5xx), busy (408, 429), redirected (3xx),
 * or not taking this workstation's token now (401, 403: it may be registered again). Only a
 * refusal of the request itself (400, 404, 422, …) is final.
 */
export function retryable(status: number): boolean {
  return (
    status >= 500 || status < 200 || (status >= 300 && status < 400) || [401, 403, 408, 429].includes(status)
  );
}
