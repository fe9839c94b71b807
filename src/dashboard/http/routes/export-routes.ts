import type { KeyObject } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import createError from '@fastify/error';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Pool } from 'pg';
import Type from 'typebox';
import { hasCode } from '../../../lib/coded-error.js';
import { lineOfText } from '../../../lib/line-of-text.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import { AuditErrorCode } from '../../audit/audit-errors.js';
import type { RetiredKey } from '../../audit/central-keys.js';
import { writeExportBundle } from '../../audit/export-bundle.js';
import { checkExportQuery } from '../../audit/export-query.js';
import { tarFiles } from '../../audit/tar-stream.js';
import { AuthErrors } from '../../auth/auth-errors.js';
import { EXPORT_DIR_PREFIX, makeScratchDir } from '../../scratch-dirs.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface ExportRoutesOptions {
  pool: Pool;
  signingKey?: KeyObject;
  /** The keys signingKey replaced: a bundle names those that signed its checkpoints. */
  retiredKeys?: readonly RetiredKey[];
  /** Bundles built at once by this instance; more are answered 429 (default MAX_RUNNING_EXPORTS). */
  maxRunning?: number;
}

/**
 * Each bundle being built holds a database connection beside the pool and writes to disk: left
 * unbounded, a few auditors' clicks could take the connections the ingest needs
 * (max_connections) or fill the temporary directory.
 */
export const MAX_RUNNING_EXPORTS = 2;

const ExportErrors = {
  invalid: createError('IDG_AUDIT_INVALID', '%s', 400),
  noKey: createError(
    'IDG_AUDIT_NO_SIGNING_KEY',
    'exports are off: the dashboard has no central signing key (keys.signing)',
    503,
  ),
  /** The chain or the erasure list does not hold: the bundle would vouch for what audit verify refuses. */
  chainBroken: createError(AuditErrorCode.chainBroken, '%s', 409),
  listTampered: createError(AuditErrorCode.erasureListTampered, '%s', 409),
  busy: createError(
    'IDG_EXPORT_BUSY',
    '%s exports are being built on this dashboard already; try again when one is done',
    429,
  ),
};

/**
 * `POST /api/v1/exports`: the same signed bundle as `identgate export`, for auditors who have
 * just confirmed their password and a code, as a .tar download. The bundle is built in a private
 * temporary directory, sent from disk and removed when the response closes, however it ends:
 * sent, broken off while the bundle was built, or broken off during the download (a dashboard
 * that crashed meanwhile removes it at its next start). The export is audited with who asked,
 * the query and the row count.
 */
export const exportRoutes: FastifyPluginAsyncTypebox<ExportRoutesOptions> = async (
  app,
  { pool, signingKey, retiredKeys, maxRunning = MAX_RUNNING_EXPORTS },
) => {
  let running = 0;
  app.post(
    '/api/v1/exports',
    {
      config: { roles: Access.export, reauth: true },
      schema: {
        description:
          'A signed export bundle of the access log (see docs/audit.md) as a tar archive: rows of [from, to) with the filters given, the chain links, manifest, signature, public key and SHA256SUMS.',
        body: Type.Object(
          {
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            site: Type.Optional(Type.String({ pattern: ID_PATTERN })),
            door: Type.Optional(Type.String({ pattern: ID_PATTERN })),
            person: Type.Optional(Type.String({ pattern: ID_PATTERN })),
            kinds: Type.Optional(Type.Array(lineOfText(64), { minItems: 1, maxItems: 20 })),
            format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl')]),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Unknown({ description: 'application/x-tar: the bundle in a folder named after it' }),
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          409: ErrorSchema,
          429: ErrorSchema,
          503: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const login = request.auth?.account.login;
      if (!login) throw new AuthErrors.unauthenticated();
      if (!signingKey) throw new ExportErrors.noKey();
      const { format, ...filters } = request.body;
      let query: ReturnType<typeof checkExportQuery>;
      try {
        query = checkExportQuery(filters);
      } catch (error) {
        throw new ExportErrors.invalid((error as Error).message);
      }
      const name = `identgate-export-${query.from.slice(0, 10)}-${query.to.slice(0, 10)}`;
      // Gone already (while its re-authentication was checked, say): its 'close' has come and
      // gone, and a bundle built now would be left behind.
      if (request.raw.socket?.destroyed || reply.raw.destroyed) {
        request.log.info('export not built: the client left before it began');
        reply.hijack();
        return reply;
      }
      // 'close' comes once the response is sent or the connection is gone, also before the
      // archive's first read (a stream destroyed unread never runs its cleanup). Not while the
      // bundle is still being written into the directory: then once that ends. Listened for
      // before the directory is made, so that no moment is left between the two.
      if (running >= maxRunning) {
        reply.header('retry-after', '30');
        throw new ExportErrors.busy(String(running));
      }
      let building = true;
      let closed = false;
      let dir: string | undefined;
      const remove = () =>
        dir === undefined
          ? Promise.resolve()
          : rm(dir, { recursive: true, force: true }).catch((error: Error) =>
              request.log.error({ err: error, dir }, 'export bundle not removed'),
            );
      reply.raw.once('close', () => {
        closed = true;
        if (!building) void remove();
      });
      running += 1;
      let out: string;
      try {
        dir = await makeScratchDir(EXPORT_DIR_PREFIX);
        out = join(dir, name);
        if (closed) {
          await remove();
          reply.hijack();
          return reply;
        }
        await writeExportBundle(pool, {
          query,
          format,
          out,
          actor: `staff:${login}`,
          signingKey,
          ...(retiredKeys ? { retired: retiredKeys } : {}),
        });
      } catch (error) {
        await remove();
        if (hasCode(error, AuditErrorCode.invalid)) throw new ExportErrors.invalid((error as Error).message);
        if (hasCode(error, AuditErrorCode.chainBroken))
          throw new ExportErrors.chainBroken((error as Error).message);
        if (hasCode(error, AuditErrorCode.erasureListTampered))
          throw new ExportErrors.listTampered((error as Error).message);
        throw error;
      } finally {
        building = false;
        running -= 1;
      }
      if (closed) {
        await remove();
        reply.hijack(); // nobody is left to answer
        return reply;
      }
      const names = (await readdir(out)).sort();
      return reply
        .header('content-type', 'application/x-tar')
        .header('content-disposition', `attachment; filename="${name}.tar"`)
        .header('cache-control', 'no-store')
        .send(Readable.from(tarFiles(out, name, names)));
    },
  );
};
