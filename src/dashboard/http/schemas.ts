import Type from 'typebox';

/** HTTP payload schemas; the TypeScript types come from them. */
export const StoredEventSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  ingestNo: Type.Integer(),
  kind: Type.String(),
  site: Type.String(),
  gateway: Type.String(),
  seq: Type.Integer(),
  occurredAt: Type.String({ format: 'date-time' }),
  receivedAt: Type.String({ format: 'date-time' }),
  door: Type.Union([Type.String(), Type.Null()]),
  person: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
});
