// A string schema with allowed values (JSON Schema `enum`): a bad value is a 400 naming the field
// and listing what it may be, where a union of literals would only say "must match a schema in anyOf".
import { Type, type TSchema, type TUnsafe } from '@fastify/type-provider-typebox';

export const StringEnum = <const T extends readonly string[]>(values: T, opts: Partial<TSchema> = {}): TUnsafe<T[number]> =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
