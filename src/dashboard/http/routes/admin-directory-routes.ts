import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import Type from 'typebox';
import { LINE_PATTERN, lineOfText } from '../../../lib/line-of-text.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import { auditedChange } from '../../audit/audited-change.js';
import type {
  Camera,
  Customer,
  DirectoryStore,
  Door,
  Reader,
  Room,
  Site,
} from '../../storage/directory-store.js';
import type { Queryable } from '../../storage/event-store.js';
import { AdminErrors } from '../admin-errors.js';
import { staffActor } from '../auth-plugin.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

const Errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };
const Id = Type.String({ pattern: ID_PATTERN });
const NullableId = Type.Union([Id, Type.Null()]);
const Name = lineOfText(200);
const strict = { additionalProperties: false } as const;

const CustomerSchema = Type.Object({ id: Type.String(), name: Type.String() });
const SiteSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  customer: Type.Union([Type.String(), Type.Null()]),
  timezone: Type.String(),
});
const RoomSchema = Type.Object({ site: Type.String(), id: Type.String(), name: Type.String() });
const DoorSchema = Type.Object({
  site: Type.String(),
  id: Type.String(),
  name: Type.String(),
  room: Type.Union([Type.String(), Type.Null()]),
});
const Direction = Type.Union([Type.Literal('entry'), Type.Literal('exit')]);
const ReaderSchema = Type.Object({
  site: Type.String(),
  id: Type.String(),
  name: Type.String(),
  door: Type.String(),
  direction: Direction,
  model: Type.Union([Type.String(), Type.Null()]),
});
/** A camera has the shape of a door: where it is, and the room it watches if any. */
const CameraSchema = DoorSchema;

/** A foreign key the write broke names the missing site, room, door or customer. */
function unknownReference(error: unknown): never {
  const pg = error as { code?: string; detail?: string };
  if (pg.code === '23503') {
    const match = /Key \((.+)\)=\((.+)\) is not present in table "(\w+)"/.exec(pg.detail ?? '');
    throw new AdminErrors.notFound(
      match
        ? `no ${match[3]?.replace(/s$/, '')} with ${match[1]} = ${match[2]}`
        : 'a referenced entry does not exist',
    );
  }
  throw error;
}

function checkTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new AdminErrors.invalid(`unknown time zone "${timezone}" (an IANA name such as Europe/Berlin)`);
  }
}

/**
 * The directory: everyone signed in reads it (names of sites, rooms, doors are needed to show
 * anything); administrators create and change customers, sites, rooms, doors, readers and
 * cameras. `PUT` creates an entry (201) or updates it (200); each is audited.
 */
export const adminDirectoryRoutes: FastifyPluginAsyncTypebox<{
  pool: Pool;
  directory: DirectoryStore;
}> = async (app, { pool, directory }) => {
  app.get(
    '/api/v1/directory',
    {
      config: { roles: Access.directory },
      schema: {
        description: 'Customers, sites, rooms, doors, readers and cameras.',
        response: {
          200: Type.Object({
            customers: Type.Array(CustomerSchema),
            sites: Type.Array(SiteSchema),
            rooms: Type.Array(RoomSchema),
            doors: Type.Array(DoorSchema),
            readers: Type.Array(ReaderSchema),
            cameras: Type.Array(CameraSchema),
          }),
          ...Errors,
        },
      },
    },
    async () => directory.all(),
  );

  /**
   * Creates or updates one kind of entry: validates, writes and audits in one transaction (no
   * change without its entry), answers 201 or 200.
   */
  const put =
    <T extends { id: string; site?: string }>(
      kind: string,
      write: (entry: T, db: Queryable) => Promise<{ entry: T; created: boolean }>,
    ) =>
    async (request: FastifyRequest, entry: T) => {
      const { entry: stored, created } = await auditedChange(
        pool,
        (db) => write(entry, db),
        ({ entry: stored, created }) => ({
          actor: staffActor(request),
          action: `directory.${kind}.${created ? 'created' : 'updated'}`,
          target: `${kind}:${stored.site ? `${stored.site}/` : ''}${stored.id}`,
          details: { ...stored },
        }),
      ).catch(unknownReference);
      return { stored, created };
    };

  const putCustomer = put<Customer>('customer', (c, db) => directory.putCustomer(c, db));
  app.put(
    '/api/v1/directory/customers/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: Type.Object({ id: Id }, strict),
        body: Type.Object({ name: Name }, strict),
        response: { 200: CustomerSchema, 201: CustomerSchema, ...Errors },
      },
    },
    async (request, reply) => {
      const { stored, created } = await putCustomer(request, {
        id: request.params.id,
        name: request.body.name.trim(),
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  const putSite = put<Site>('site', (s, db) => directory.putSite(s, db));
  app.put(
    '/api/v1/directory/sites/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: Type.Object({ id: Id }, strict),
        body: Type.Object(
          {
            name: Name,
            customer: Type.Optional(NullableId),
            timezone: Type.String({ minLength: 1, maxLength: 64, pattern: LINE_PATTERN, default: 'UTC' }),
          },
          strict,
        ),
        response: { 200: SiteSchema, 201: SiteSchema, ...Errors },
      },
    },
    async (request, reply) => {
      checkTimezone(request.body.timezone);
      const { stored, created } = await putSite(request, {
        id: request.params.id,
        name: request.body.name.trim(),
        customer: request.body.customer ?? null,
        timezone: request.body.timezone,
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  const SiteChild = Type.Object({ site: Id, id: Id }, strict);

  const putRoom = put<Room>('room', (r, db) => directory.putRoom(r, db));
  app.put(
    '/api/v1/directory/sites/:site/rooms/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: SiteChild,
        body: Type.Object({ name: Name }, strict),
        response: { 200: RoomSchema, 201: RoomSchema, ...Errors },
      },
    },
    async (request, reply) => {
      const { stored, created } = await putRoom(request, {
        ...request.params,
        name: request.body.name.trim(),
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  const putDoor = put<Door>('door', (d, db) => directory.putDoor(d, db));
  app.put(
    '/api/v1/directory/sites/:site/doors/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: SiteChild,
        body: Type.Object({ name: Name, room: Type.Optional(NullableId) }, strict),
        response: { 200: DoorSchema, 201: DoorSchema, ...Errors },
      },
    },
    async (request, reply) => {
      const { stored, created } = await putDoor(request, {
        ...request.params,
        name: request.body.name.trim(),
        room: request.body.room ?? null,
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  const putReader = put<Reader>('reader', (r, db) => directory.putReader(r, db));
  app.put(
    '/api/v1/directory/sites/:site/readers/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: SiteChild,
        body: Type.Object(
          {
            name: Name,
            door: Id,
            direction: Direction,
            model: Type.Optional(
              Type.Union([Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }), Type.Null()]),
            ),
          },
          strict,
        ),
        response: { 200: ReaderSchema, 201: ReaderSchema, ...Errors },
      },
    },
    async (request, reply) => {
      const { stored, created } = await putReader(request, {
        ...request.params,
        name: request.body.name.trim(),
        door: request.body.door,
        direction: request.body.direction,
        model: request.body.model ?? null,
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  const putCamera = put<Camera>('camera', (c, db) => directory.putCamera(c, db));
  app.put(
    '/api/v1/directory/sites/:site/cameras/:id',
    {
      config: { roles: Access.administer },
      schema: {
        params: SiteChild,
        body: Type.Object({ name: Name, room: Type.Optional(NullableId) }, strict),
        response: { 200: CameraSchema, 201: CameraSchema, ...Errors },
      },
    },
    async (request, reply) => {
      const { stored, created } = await putCamera(request, {
        ...request.params,
        name: request.body.name.trim(),
        room: request.body.room ?? null,
      });
      return reply.code(created ? 201 : 200).send(stored);
    },
  );
};
