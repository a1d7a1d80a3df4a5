/**
 * The postable description of a shared-memory primitive, written once: its tag, the `SharedArrayBuffer` it
 * lives in and its offset there, plus whatever the primitive adds. As a Schema, so that handles travel in actor
 * protocols (the buffer crosses threads shared, not copied) and each primitive's `Handle` type is derived from it.
 */
import { Schema } from "effect"

export const schema = <const Tag extends string, const Fields extends Schema.Struct.Fields = {}>(tag: Tag, fields?: Fields) =>
  Schema.Struct({
    _tag: Schema.Literal(tag),
    buffer: Schema.instanceOf(SharedArrayBuffer),
    byteOffset: Schema.Number,
    ...(fields ?? ({} as Fields))
  })
