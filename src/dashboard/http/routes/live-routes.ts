import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { LiveHub, LiveSubscriber } from '../../live-hub.js';
import type { EventStore, StoredEvent } from '../../storage/event-store.js';
import { framesAfter } from '../live-frames.js';
import { Access } from '../roles.js';
import { RowId } from '../schemas.js';

export interface LiveRoutesOptions {
  events: EventStore;
  /** Re-checks the session on every keep-alive: a stream ends with the session it was opened in. */
  stillValid: (token: string | undefined) => Promise<boolean>;
  hub: LiveHub;
  /** Comment lines keep proxies from closing an idle stream. */
  keepAliveMs?: number;
}

const MAX_BUFFERED_BYTES = 1024 * 1024;
const CATCH_UP_LIMIT = 5000;

/** Whether the stream pauses (this instance does not hear the others) or goes on: see below. */
const statusFrame = (hearing: boolean) => `event: status\ndata: ${JSON.stringify({ hearing })}\n\n`;

/**
 * `GET /api/v1/live`: Server-Sent Events, one `event` message per stored event, its id the ingest
 * number. A client that reconnects with `Last-Event-ID` (browsers do this by themselves) or
 * `?after=` first receives what it missed, from the database, so a network blip loses nothing;
 * `?recent=N` starts with the last N events. The stream ends when the session does.
 * Alarm changes arrive as `alarm` messages without an id: they are not replayed (they would move
 * the client's Last-Event-ID); a client reloads the open alarms when it reconnects.
 * `status` messages (`{"hearing":false}`, then `{"hearing":true}`) say when the stream pauses
 * because this instance does not hear the events other instances store, and when it goes on:
 * sent when that changes, and at the start while it is paused.
 */
export const liveRoutes: FastifyPluginAsyncTypebox<LiveRoutesOptions> = async (
  app,
  { events, hub, stillValid, keepAliveMs = 15_000 },
) => {
  app.get(
    '/api/v1/live',
    {
      config: { roles: Access.monitor },
      schema: {
        querystring: Type.Object(
          {
            after: Type.Optional(RowId(0)),
            recent: Type.Optional(Type.Integer({ minimum: 0, maximum: 500 })),
          },
          { additionalProperties: false },
        ),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^\\d{1,18}$' })) }),
      },
    },
    async (request, reply) => {
      const header = request.headers['last-event-id'];
      const after = header !== undefined ? Number(header) : request.query.after;
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 1000\n\n');

      let lastSent = after ?? 0;
      let live = false;
      const held: StoredEvent[] = [];
      const write = (list: readonly StoredEvent[]): boolean => {
        const owed = framesAfter(list, lastSent);
        if (owed.chunk) res.write(owed.chunk);
        lastSent = owed.lastSent;
        return res.writableLength <= MAX_BUFFERED_BYTES;
      };
      const subscriber: LiveSubscriber = {
        push: (list) => {
          if (!live) {
            held.push(...list);
            return held.length < CATCH_UP_LIMIT;
          }
          return write(list);
        },
        pushAlarms: (alarms) => {
          for (const alarm of alarms) res.write(`event: alarm\ndata: ${JSON.stringify(alarm)}\n\n`);
          return res.writableLength <= MAX_BUFFERED_BYTES;
        },
        pushHearing: (hearing) => {
          res.write(statusFrame(hearing));
          return res.writableLength <= MAX_BUFFERED_BYTES;
        },
        close: () => res.end(),
      };
      // Subscribe before reading the backlog so that nothing falls between the two.
      const unsubscribe = hub.subscribe(subscriber);
      if (!hub.hearing) res.write(statusFrame(false));
      const token = request.sessionToken;
      const keepAlive = setInterval(() => {
        res.write(': keep-alive\n\n');
        stillValid(token).then(
          (valid) => valid || res.end('event: session-ended\ndata: {}\n\n'),
          () => res.end(),
        );
      }, keepAliveMs);
      request.raw.on('close', () => {
        clearInterval(keepAlive);
        unsubscribe();
      });
      try {
        if (after !== undefined) write(await events.since(after, CATCH_UP_LIMIT));
        else {
          const recent = await events.recent(Math.max(1, request.query.recent ?? 0));
          if (request.query.recent) write([...recent].reverse());
          else lastSent = Math.max(0, ...recent.map((e) => e.ingestNo));
        }
        write(held);
        held.length = 0;
        live = true;
      } catch (error) {
        request.log.error({ err: error }, 'live stream catch-up failed');
        res.end();
      }
    },
  );
};
