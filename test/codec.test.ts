/**
 * The codec's plain guards for leaf schemas (`Codec.leafGuard`) accept exactly what Effect's own `Schema.is`
 * accepts, for any value; schemas with checks, encodings or structure get no plain guard (Effect compiles them).
 */
import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compile, leafGuard } from "../src/runtime/internal/Codec.ts"

const leaves = [
  Schema.Number,
  Schema.String,
  Schema.Boolean,
  Schema.BigInt,
  Schema.Symbol,
  Schema.Null,
  Schema.Undefined,
  Schema.Unknown,
  Schema.Any,
  Schema.Literal("a"),
  Schema.Literal(1),
  Schema.Literal(true)
] as const

const anything = fc.oneof(
  fc.anything(),
  fc.double(),
  fc.bigInt(),
  fc.constantFrom(NaN, -0, Infinity, "a", 1, true, false, null, undefined, Symbol.for("x"), 1n, "1")
)

describe("leaf guards", () => {
  it("accept what Schema.is accepts, for every leaf schema and any value", () => {
    fc.assert(
      fc.property(fc.constantFrom(...leaves), anything, (schema, value) => {
        const guard = leafGuard(schema.ast)
        expect(guard).toBeDefined()
        expect(guard!(value)).toBe(Schema.is(schema as Schema.Top)(value))
        // And the compiled codec decodes it, or says it does not fit, accordingly.
        const codec = compile(schema as never)
        if (guard!(value)) expect(codec.decode(value)).toBe(value)
        else expect(() => codec.decode(value)).toThrow()
      }),
      { numRuns: 2000 }
    )
  })

  it("are not given to schemas with checks, encodings or structure", () => {
    for (const schema of [Schema.Finite, Schema.Int, Schema.NumberFromString, Schema.Struct({ a: Schema.Number }), Schema.Array(Schema.String)]) {
      expect(leafGuard(schema.ast)).toBeUndefined()
    }
  })
})
