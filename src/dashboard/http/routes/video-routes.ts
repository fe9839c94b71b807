import { createReadStream } from 'node:fs';
import createError from '@fastify/error';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { type Clock, systemClock } from '../../../lib/clock.js';
import type { Logger } from '../../../lib/logger.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { FetchedFootage } from '../../video/footage-client.js';
import { type RefusedAttempt, RefusedViews } from '../../video/refused-views.js';
import { FOOTAGE_TYPES, MAX_VIEW_MS, type VideoService } from '../../video/video-service.js';
import { staffActor } from '../auth-plugin.js';
import { parseByteRange } from '../byte-range.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

/**
 * Playback in the browser, without transcoding: a camera's footage for a time range and the
 * clip and snapshot of a door event, fetched from the gateway that recorded them and served with
 * range requests (206, Content-Range) so a <video> element can seek. Every view is audited, and
 * so is a signed-in person's refused attempt (RefusedViews).
 */
export interface VideoRoutesOptions {
  /** Started after the HTTP server, like the messenger. */
  video: () => VideoService | undefined;
  audit: AuditLog;
  log: Logger;
  clock?: Clock;
}

export const VideoErrors = {
  badRange: createError('IDG_VIDEO_BAD_RANGE', '%s', 400),
  off: createError('IDG_VIDEO_OFF', 'playback is not running on this dashboard', 503),
  noKey: createError(
    'IDG_NO_CENTRAL_KEY',
    'playback is off: the dashboard has no central signing key (keys.signing) to sign footage requests',
    503,
  ),
};

const Id = Type.String({ pattern: ID_PATTERN });
const Binary = Type.Unsafe<Buffer>({ type: 'string', format: 'binary' });
const Errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  416: ErrorSchema,
  502: ErrorSchema,
  503: ErrorSchema,
  504: ErrorSchema,
};

export const videoRoutes: FastifyPluginAsyncTypebox<VideoRoutesOptions> = async (app, options) => {
  const { video } = options;
  const refused = new RefusedViews({
    audit: options.audit,
    log: options.log,
    clock: options.clock ?? systemClock,
  });
  app.addHook('onClose', () => refused.stop());
  // The auth layer refuses before validation: the attempt is written with what it named, cut short.
  app.addHook('onError', async (request, _reply, error) => {
    const login = request.auth?.account.login;
    if (error.statusCode !== 403 || !login) return;
    await refused.refused(refusedAttempt(request, `staff:${login}`, error.code));
  });

  const service = (): VideoService => {
    const instance = video();
    if (!instance) throw new VideoErrors.off();
    if (!instance.canRequest) throw new VideoErrors.noKey();
    return instance;
  };

  app.get(
    '/api/v1/cameras/:site/:gateway/:camera/footage',
    {
      config: { roles: Access.video },
      schema: {
        description: `A camera's footage between two times as one MP4 (stream copy, cut at key frames), with range requests. At most ${MAX_VIEW_MS / 60_000} minutes; audited.`,
        params: Type.Object({ site: Id, gateway: Id, camera: Id }, { additionalProperties: false }),
        querystring: Type.Object(
          { from: Type.String({ format: 'date-time' }), to: Type.String({ format: 'date-time' }) },
          { additionalProperties: false },
        ),
        response: { 200: Binary, 206: Binary, ...Errors },
      },
    },
    async (request, reply) => {
      const { site, gateway, camera } = request.params;
      const fromMs = Date.parse(request.query.from);
      const toMs = Date.parse(request.query.to);
      if (!(toMs > fromMs)) throw new VideoErrors.badRange('"to" must be after "from"');
      if (toMs - fromMs > MAX_VIEW_MS)
        throw new VideoErrors.badRange(`at most ${MAX_VIEW_MS / 60_000} minutes at a time`);
      const footage = await service().footage(staffActor(request), site, gateway, camera, fromMs, toMs);
      const name = `${camera}-${new Date(fromMs).toISOString().replace(/[-:.]/g, '')}.mp4`;
      return sendFootage(request, reply, footage, FOOTAGE_TYPES.range, name);
    },
  );

  for (const kind of ['clip', 'snapshot'] as const) {
    app.get(
      `/api/v1/events/:id/${kind}`,
      {
        config: { roles: Access.video },
        schema: {
          description:
            kind === 'clip'
              ? "The clip a gateway linked to a door event (MP4, range requests), checked against the event's SHA-256; audited."
              : "The JPEG a gateway took at a door event, checked against the event's SHA-256; audited.",
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
          querystring: Type.Object({ camera: Type.Optional(Id) }, { additionalProperties: false }),
          response: { 200: Binary, 206: Binary, ...Errors },
        },
      },
      async (request, reply) => {
        const footage = await service().eventFootage(
          staffActor(request),
          request.params.id,
          kind,
          request.query.camera,
        );
        const name = `event-${request.params.id}-${kind}.${kind === 'clip' ? 'mp4' : 'jpg'}`;
        return sendFootage(request, reply, footage, FOOTAGE_TYPES[kind], name);
      },
    );
  }
};

/** What a refused request asked for, from its unvalidated parameters. */
function refusedAttempt(request: FastifyRequest, actor: string, code: string): RefusedAttempt {
  const cut = (value: unknown) => (typeof value === 'string' ? value.slice(0, 100) : undefined);
  const params = request.params as Record<string, unknown>;
  const query = request.query as Record<string, unknown>;
  const reason = cut(code) ?? 'IDG_AUTH_FORBIDDEN';
  const event = cut(params.id);
  if (event !== undefined) {
    const kind = request.routeOptions.url?.endsWith('/snapshot') ? 'snapshot' : 'clip';
    const camera = cut(query.camera);
    return {
      actor,
      key: `${kind}\n${event}\n${camera ?? ''}`,
      target: null,
      details: { kind, event, ...(camera ? { camera } : {}), reason },
    };
  }
  const target = [params.site, params.gateway, params.camera].map(cut).join('/');
  const from = cut(query.from);
  const to = cut(query.to);
  return {
    actor,
    key: `range\n${target}\n${from}\n${to}`,
    target,
    details: { kind: 'range', from, to, reason },
  };
}

/**
 * Serves fetched footage as `contentType`, the route's own: the service refused footage the
 * gateway declared as anything else. `name` (ids and digits only) is what a saved copy is called.
 */
function sendFootage(
  request: FastifyRequest,
  reply: FastifyReply,
  footage: FetchedFootage,
  contentType: string,
  name: string,
) {
  const range = parseByteRange(request.headers.range, footage.bytes);
  reply
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'no-store')
    .header('content-type', contentType)
    .header('content-disposition', `inline; filename="${name}"`);
  if (range.kind === 'unsatisfiable') {
    return reply
      .code(416)
      .header('content-range', `bytes */${footage.bytes}`)
      .header('content-type', 'application/json; charset=utf-8')
      .send({
        statusCode: 416,
        code: 'IDG_HTTP_RANGE',
        error: 'Range Not Satisfiable',
        message: `the footage has ${footage.bytes} bytes`,
      });
  }
  if (range.kind === 'whole') {
    reply.header('content-length', footage.bytes);
    return reply.code(200).send(createReadStream(footage.path));
  }
  return reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${footage.bytes}`)
    .header('content-length', range.end - range.start + 1)
    .send(createReadStream(footage.path, { start: range.start, end: range.end }));
}
