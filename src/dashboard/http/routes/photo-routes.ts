import createError from '@fastify/error';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Pool } from 'pg';
import Type from 'typebox';
import { auditedChange } from '../../audit/audited-change.js';
import { MAX_PHOTO_BYTES, type PhotoStore } from '../../storage/photo-store.js';
import { staffActor } from '../auth-plugin.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface PhotoRoutesOptions {
  pool: Pool;
  photos: PhotoStore;
}

const PhotoErrors = {
  notFound: createError('IDG_PHOTO_NOT_FOUND', '%s', 404),
  refused: createError('IDG_PHOTO_REFUSED', '%s', 400),
  tooLarge: createError('IDG_PHOTO_TOO_LARGE', '%s', 413),
  noKey: createError('IDG_NO_MASTER_KEY', '%s', 503),
};

const PersonParams = Type.Object(
  { id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' }) },
  { additionalProperties: false },
);
const Errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };
const UPLOAD_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream'];

/**
 * People's photos beside their events: administrators set and remove them (audited in the same
 * transaction, so no photo changes without its entry), security
 * staff and administrators see them in the live feed. The image type is read from its bytes;
 * photos are served with `no-store`, so no copy stays in a browser cache.
 */
export const photoRoutes: FastifyPluginAsyncTypebox<PhotoRoutesOptions> = async (app, { pool, photos }) => {
  // Raw image bodies, for this plugin's routes only.
  app.addContentTypeParser(
    UPLOAD_TYPES,
    { parseAs: 'buffer', bodyLimit: MAX_PHOTO_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.get(
    '/api/v1/photos',
    {
      config: { roles: Access.photos },
      schema: {
        description:
          'The people who have a photo, with its version (the time it was set): the live feed asks only for photos that exist.',
        response: {
          200: Type.Object({
            photos: Type.Array(Type.Object({ person: Type.String(), version: Type.String() })),
          }),
          ...Errors,
        },
      },
    },
    async () => ({ photos: await photos.versions() }),
  );

  app.get(
    '/api/v1/people/:id/photo',
    {
      config: { roles: Access.photos },
      schema: { description: "A person's photo (JPEG, PNG or WebP).", params: PersonParams },
    },
    async (request, reply) => {
      const photo = await photos.get(request.params.id).catch(translate);
      if (!photo) throw new PhotoErrors.notFound(`no photo of ${request.params.id}`);
      return reply
        .header('content-type', photo.contentType)
        .header('cache-control', 'private, no-store')
        .header('content-disposition', 'inline')
        .send(photo.data);
    },
  );

  app.put(
    '/api/v1/people/:id/photo',
    {
      config: { roles: Access.administer },
      bodyLimit: MAX_PHOTO_BYTES,
      schema: {
        description: `Sets a person's photo: the raw image as the body (JPEG, PNG or WebP, at most ${MAX_PHOTO_BYTES / 1024} KiB). Audited.`,
        params: PersonParams,
        response: {
          200: Type.Object({ person: Type.String(), contentType: Type.String(), bytes: Type.Integer() }),
          ...Errors,
          413: ErrorSchema,
        },
      },
    },
    async (request) => {
      const who = staffActor(request);
      const { id: person } = request.params;
      if (!Buffer.isBuffer(request.body)) {
        throw new PhotoErrors.refused(
          'send the image itself as the body (content-type image/jpeg, image/png or image/webp)',
        );
      }
      const data = request.body;
      const contentType = await auditedChange(
        pool,
        (db) => photos.put(person, data, db),
        (contentType) => ({
          actor: who,
          action: 'person.photo-set',
          target: `person:${person}`,
          details: { contentType, bytes: data.length },
        }),
      ).catch(translate);
      return { person, contentType, bytes: data.length };
    },
  );

  app.delete(
    '/api/v1/people/:id/photo',
    {
      config: { roles: Access.administer },
      schema: {
        description: "Removes a person's photo. Audited.",
        params: PersonParams,
        response: { 204: Type.Null(), ...Errors },
      },
    },
    async (request, reply) => {
      const who = staffActor(request);
      const { id: person } = request.params;
      const removed = await auditedChange(
        pool,
        (db) => photos.remove(person, db),
        (removed) =>
          removed ? { actor: who, action: 'person.photo-removed', target: `person:${person}` } : [],
      );
      if (!removed) throw new PhotoErrors.notFound(`no photo of ${person}`);
      return reply.code(204).send(null);
    },
  );
};

/** The store's coded errors as HTTP answers. */
function translate(error: unknown): never {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  if (code === 'IDG_PERSON_UNKNOWN') throw new PhotoErrors.notFound(message);
  if (code === 'IDG_PHOTO_TOO_LARGE') throw new PhotoErrors.tooLarge(message);
  if (code === 'IDG_PHOTO_TYPE' || code === 'IDG_PHOTO_EMPTY') throw new PhotoErrors.refused(message);
  if (code === 'IDG_NO_MASTER_KEY') throw new PhotoErrors.noKey(message);
  throw error;
}
