/**
 * Compiled Schema codecs for an actor's protocol, built once per definition.
 *
 * Payloads are encoded by the sender and decoded by the receiver, so whatever crosses a thread boundary is
 * checked against the protocol; a value that does not fit becomes a `MalformedMessage`, never a crashed worker.
 *
 * Two kinds of schema, two costs:
 * - **Identity schemas** (no transformation anywhere: numbers, strings, structs and arrays of them, typed-array
 *   `instanceOf`s — `SchemaAST.toType(ast) === ast`): structured clone already is their encoding, so the sender
 *   does nothing and the receiver runs the schema's type guard (`Schema.is`, compiled to plain JavaScript by
 *   Effect's JIT schema compiler) and hands on the very value that arrived. The check stays (at the receiving
 *   boundary, where it matters: a sender cannot skip it); the cost of running the parser, building a new value
 *   and a fiber per value is gone. What differs from a decode: a struct keeps keys its schema does not name.
 *   A leaf schema with no checks (`Schema.Number`, `String`, a literal...) is checked with the same predicate the
 *   interpreter applies (`leafGuard`): the JIT compiler leaves leaves to the interpreter, whose guard runs a small
 *   Effect per value (two per ask of numbers: its payload there, its reply here).
 * - **Moved arrays** (`Transfer.moved` of an identity schema, at the top or as fields of a plain struct): the
 *   same as identity schemas, plus the buffers under the moved fields go to the transfer list. Running
 *   `Transferable.schema`'s transformation through the parser cost ~20 µs per encode and decode (measured),
 *   more than the rest of an ask; what it does is exactly this.
 * - **Other schemas** (classes, tagged errors, transformations, `Transferable.schema` made elsewhere) are
 *   encoded with a `Transferable.Collector` in context, so that typed arrays a protocol marks as moved are
 *   passed to `postMessage` as transfers (see `Transfers`), and decoded with the (JIT-compiled) decoder.
 */
import { Context, Effect, Exit, Predicate, Schema, SchemaAST, SchemaIssue } from "effect"
import { SchemaJITCompiler } from "effect/schema"
import { Transferable } from "effect/workers"
import type { TransferListItem } from "node:worker_threads"
import type * as Actor from "../Actor.ts"
import { ActorErrorSchema, SpawnFailed, describe } from "../ActorError.ts"

/** Where an encoder puts the transferables (moved buffers) of what it encoded; undefined: nowhere (copy). */
export type Transfers = Array<TransferListItem> | undefined

export interface MessageCodec {
  /** The message's index in its protocol: what travels instead of its tag. */
  readonly index: number
  /** A stream message (`Actor.stream`): `encodeSuccess` / `decodeSuccess` are its elements'. */
  readonly stream: boolean
  readonly encodePayload: (u: unknown, transfer?: Transfers) => unknown
  readonly decodePayload: (u: unknown) => unknown
  readonly encodeSuccess: (u: unknown, transfer?: Transfers) => unknown
  readonly decodeSuccess: (u: unknown) => unknown
  readonly encodeError: (u: unknown, transfer?: Transfers) => unknown
  readonly decodeError: (u: unknown) => unknown
}

export interface ActorCodec {
  readonly init: Compiled
  readonly messages: Record<string, MessageCodec>
  /** The protocol's tags by index (`MessageCodec.index`). */
  readonly tags: ReadonlyArray<string>
}

/** One schema's encoder and decoder; both throw an `Error` saying what does not fit. */
export interface Compiled {
  readonly encode: (u: unknown, transfer?: Transfers) => unknown
  readonly decode: (u: unknown) => unknown
  /** Structured clone is the whole encoding (see the module doc). */
  readonly identity: boolean
}

const cache = new WeakMap<Actor.Any, ActorCodec>()

/**
 * The buffers the value being encoded moves, for encoders given it as `transfer`; `moved` takes them (to push
 * with the value's frame) or drops them (a value that failed: its buffers move nowhere). Encoding is
 * synchronous, so one list serves the whole thread.
 */
export const moving: Array<TransferListItem> = []
export const moved = (): Array<TransferListItem> | undefined => (moving.length === 0 ? undefined : moving.splice(0))

const formatIssue = SchemaIssue.makeFormatterDefault()

/** The error a codec throws: one readable line about what does not fit, not the issue tree. */
const misfit = (error: unknown): Error =>
  new Error(Schema.isSchemaError(error) ? formatIssue(error.issue) : describe(error))

const passThrough = (u: unknown): unknown => u

/** One collector for every encoding on this thread: encoding is synchronous, so they never overlap. */
const collector = Transferable.makeCollectorUnsafe()
const withCollector = Context.make(Transferable.Collector, collector)

const compiled = new WeakMap<Actor.Codec, Compiled>()

const isNull = (u: unknown): boolean => u === null
const isUndefined = (u: unknown): boolean => u === undefined
const isAnything = (_: unknown): boolean => true

/**
 * The type guard of a leaf schema without checks, as plain JavaScript: the predicate Effect's interpreter applies
 * to it (see `SchemaAST`'s parsers); undefined for every other schema (those `Schema.is` compiles).
 */
export const leafGuard = (ast: SchemaAST.AST): ((u: unknown) => boolean) | undefined => {
  if (ast.checks !== undefined || ast.encoding !== undefined) return undefined
  switch (ast._tag) {
    case "Number":
      return Predicate.isNumber
    case "String":
      return Predicate.isString
    case "Boolean":
      return Predicate.isBoolean
    case "BigInt":
      return Predicate.isBigInt
    case "Symbol":
      return Predicate.isSymbol
    case "Null":
      return isNull
    case "Undefined":
      return isUndefined
    case "Unknown":
    case "Any":
      return isAnything
    case "Literal": {
      const literal = (ast as SchemaAST.Literal).literal
      return (u) => u === literal
    }
    default:
      return undefined
  }
}

/** The ASTs `Transfer.moved` made over an identity schema, and the buffers each moves (its transfer selector). */
const movedIdentity = new WeakMap<SchemaAST.AST, (encoded: unknown) => ReadonlyArray<TransferListItem>>()

/** Record that `ast` is an identity schema whose encoding only selects the buffers that move (see `Transfer`). */
export const registerMoved = (ast: SchemaAST.AST, select: (encoded: unknown) => ReadonlyArray<TransferListItem>): void => {
  movedIdentity.set(ast, select)
}

/** A moved part of a value: its property path from the top, and its buffers. */
interface Move {
  readonly path: ReadonlyArray<PropertyKey>
  readonly select: (encoded: unknown) => ReadonlyArray<TransferListItem>
}

/**
 * The moved parts of a schema that is an identity but for moved arrays (at the top or in fields of structs with no
 * encoding of their own), or undefined for any other schema. An identity schema has none.
 */
const movesOf = (ast: SchemaAST.AST): ReadonlyArray<Move> | undefined => {
  if (SchemaAST.toType(ast) === ast) return []
  const select = movedIdentity.get(ast)
  if (select !== undefined) return [{ path: [], select }]
  if (!SchemaAST.isObjects(ast) || ast.encoding !== undefined || ast.encodingChecks !== undefined || ast.indexSignatures.length > 0) {
    return undefined
  }
  const moves: Array<Move> = []
  for (const property of ast.propertySignatures) {
    const inner = movesOf(property.type)
    if (inner === undefined) return undefined
    for (const move of inner) moves.push({ path: [property.name, ...move.path], select: move.select })
  }
  return moves
}

const at = (value: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  for (let i = 0; i < path.length && typeof value === "object" && value !== null; i++) {
    value = (value as Record<PropertyKey, unknown>)[path[i]!]
  }
  return value
}

/** The type guard as a decoder: the value that arrived, checked, or an error saying what does not fit. */
const guarded = (schema: Actor.Codec): (u: unknown) => unknown => {
  const is = leafGuard(schema.ast) ?? Schema.is(schema)
  const detailed = Schema.decodeUnknownExit(Schema.toType(schema))
  return (u) => {
    if (is(u)) return u
    const exit = detailed(u)
    throw misfit(Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : "does not fit")
  }
}

/**
 * The encoder of a schema with moved parts: the value itself, checked first (a value that does not fit fails
 * here, with its buffers still the sender's), and its moved buffers listed in `transfer`.
 */
const encodeMoving = (check: (u: unknown) => unknown, moves: ReadonlyArray<Move>) => (u: unknown, transfer?: Transfers): unknown => {
  check(u)
  if (transfer === undefined) return u
  for (const move of moves) {
    const buffers = move.select(at(u, move.path))
    // Two moved fields over one buffer list it once: postMessage refuses a buffer listed twice.
    for (let i = 0; i < buffers.length; i++) if (!transfer.includes(buffers[i]!)) transfer.push(buffers[i]!)
  }
  return u
}

/** Compile a schema's encoder and decoder once (shared by every protocol that uses the schema). */
export const compile = (schema: Actor.Codec): Compiled => {
  let codec = compiled.get(schema)
  if (codec !== undefined) return codec
  const ast = schema.ast
  const moves = movesOf(ast)
  if (moves !== undefined) {
    SchemaJITCompiler.enable(ast)
    const decode = guarded(schema)
    codec = { identity: moves.length === 0, encode: moves.length === 0 ? passThrough : encodeMoving(decode, moves), decode }
  } else {
    SchemaJITCompiler.enable(ast)
    const decode = Schema.decodeUnknownSync(schema) as (u: unknown) => unknown
    const encode = Schema.encodeUnknownEffect(schema) as (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>
    codec = {
      identity: false,
      encode: (u, transfer) => {
        collector.clearUnsafe()
        const exit = Effect.runSyncExit(Effect.provideContext(encode(u), withCollector))
        // Buffers collected for a value that failed are dropped here: they move nowhere.
        const moved = collector.clearUnsafe()
        if (Exit.isFailure(exit)) {
          const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
          throw misfit(failure === undefined ? exit.cause : failure.error)
        }
        if (transfer !== undefined) for (let i = 0; i < moved.length; i++) transfer.push(moved[i] as TransferListItem)
        return exit.value
      },
      decode: (u) => {
        try {
          return decode(u)
        } catch (error) {
          throw misfit(error)
        }
      }
    }
  }
  compiled.set(schema, codec)
  return codec
}

export const forDefinition = (definition: Actor.Any): ActorCodec => {
  let codec = cache.get(definition)
  if (codec === undefined) {
    // No prototype: a tag off the wire such as "toString" or "__proto__" names no message.
    const messages: Record<string, MessageCodec> = Object.create(null)
    const tags = Object.keys(definition.protocol)
    for (const [index, tag] of tags.entries()) {
      const message = definition.protocol[tag]!
      const payload = compile(message.payload)
      const success = compile(message.success)
      const error = compile(message.error)
      messages[tag] = {
        index,
        stream: message.stream !== undefined,
        encodePayload: payload.encode,
        decodePayload: payload.decode,
        encodeSuccess: success.encode,
        decodeSuccess: success.decode,
        encodeError: error.encode,
        decodeError: error.decode
      }
    }
    codec = { init: compile(definition.init), messages, tags }
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
