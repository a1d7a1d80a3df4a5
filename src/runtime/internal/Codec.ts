/**
 * Compiled Schema codecs for an actor's protocol, built once per definition.
 *
 * Payloads are encoded by the sender and decoded by the receiver, so whatever
 * crosses a thread boundary is checked against the protocol; a value that does
 * not fit becomes a `MalformedMessage`, never a crashed worker.
 */
import { Effect, Schema } from "effect"
import type * as Actor from "../Actor.ts"
import { ActorErrorSchema, SpawnFailed, describe } from "../ActorError.ts"

export interface MessageCodec {
  readonly encodePayload: (u: unknown) => unknown
  readonly decodePayload: (u: unknown) => unknown
  readonly encodeSuccess: (u: unknown) => unknown
  readonly decodeSuccess: (u: unknown) => unknown
  readonly encodeError: (u: unknown) => unknown
  readonly decodeError: (u: unknown) => unknown
}

export interface ActorCodec {
  readonly init: { readonly encode: (u: unknown) => unknown; readonly decode: (u: unknown) => unknown }
  readonly messages: Record<string, MessageCodec>
}

const cache = new WeakMap<Actor.Any, ActorCodec>()

/** Compile a schema's sync encoder and decoder once (Schema checks a plain number in ~20–40 ns). */
const compile = (schema: Actor.Codec) => ({
  encode: Schema.encodeUnknownSync(schema) as (u: unknown) => unknown,
  decode: Schema.decodeUnknownSync(schema) as (u: unknown) => unknown
})

export const forDefinition = (definition: Actor.Any): ActorCodec => {
  let codec = cache.get(definition)
  if (codec === undefined) {
    const messages: Record<string, MessageCodec> = {}
    for (const [tag, message] of Object.entries(definition.protocol)) {
      const payload = compile(message.payload)
      const success = compile(message.success)
      const error = compile(message.error)
      messages[tag] = {
        encodePayload: payload.encode,
        decodePayload: payload.decode,
        encodeSuccess: success.encode,
        decodeSuccess: success.decode,
        encodeError: error.encode,
        decodeError: error.decode
      }
    }
    codec = { init: compile(definition.init), messages }
    cache.set(definition, codec)
  }
  return codec
}

export const runtimeError = compile(ActorErrorSchema as unknown as Actor.Codec)

/** A definition's init parameters, encoded for another thread or process; `SpawnFailed` when they do not fit. */
export const encodeInit = (definition: Actor.Any, init: unknown): Effect.Effect<unknown, SpawnFailed> =>
  Effect.try({
    try: () => forDefinition(definition).init.encode(init),
    catch: (error) => new SpawnFailed({ actor: definition.name, detail: `init: ${describe(error)}` })
  })
