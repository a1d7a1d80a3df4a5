// Free-variable analysis for function shipping (acorn + eslint-scope): the tricky corners of the language each get a
// row, and wherever a row's function can simply be called, the engine's own runtime is asked too: called with its
// free names defined it raises no ReferenceError, and with any one of them missing it raises one naming it. So the
// table is checked against V8, not only against what we believe the scope rules are.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { freeVariables } from "../src/runtime/engines/FreeVariables.ts"
import { Remote } from "../src/runtime/engines/index.ts"

/** [what, source, free names, an argument to call it with (when every reference runs on that call)] */
type Row = readonly [string, string, ReadonlyArray<string>, unknown?]

const table: ReadonlyArray<Row> = [
  ["arrow capturing k", "x => x * k", ["k"], 2],
  ["locals and globals", "x => { const y = x * 2; return Math.sqrt(y) + Number(y) }", [], 2],
  ["member access is not a variable", "o => o.k + o?.m + o.k.m", [], { k: { m: 1 }, m: 2 }],
  ["ternary branches are", "x => x ? k : m", ["k", "m"]],
  ["comments and strings are not", "x => /* k */ \"${k}\" + 'm' + x // m", [], 1],
  // destructuring
  ["destructuring with defaults", "({ a, b: [c, d = 2] }) => a + c + d", [], { a: 1, b: [2] }],
  ["a default inside a pattern is a use", "({ a, b: { c = k } = {}, ...rest }) => a + c + Object.keys(rest).length", ["k"], { a: 1 }],
  ["holes and earlier elements", "([x, , y = x]) => x + y", [], [1, 2]],
  ["computed keys in patterns are uses", "({ [k]: v }) => v", ["k"], { 1: 2 }],
  ["object keys are not variables", "x => ({ k: x, m: x, [String(x)]: 1 })", [], 1],
  ["a shorthand property is a use", "x => ({ k })", ["k"], 1],
  ["assigning to an undeclared name captures it", "o => { ({ a: m } = o); return m }", ["m"], { a: 1 }],
  // default parameters
  ["a default parameter may use an earlier one", "(a, b = a * k) => b", ["k"], 1],
  ["a default parameter cannot see the body's var", "function (a = y) { var y = 1; return a }", ["y"], undefined],
  ["a default that is a closure", "function (f = () => g) { return f() }", ["g"], undefined],
  // block scoping and hoisting
  ["a block's let is gone after the block", "x => { { let k = 1 } return k }", ["k"], 1],
  ["a loop's let is gone after the loop", "x => { for (let i = 0; i < 3; i++) {} return i }", ["i"], 1],
  ["a catch parameter is gone after the catch", "x => { try { throw x } catch (e) {} return e }", ["e"], 1],
  ["var and function declarations are hoisted", "x => { v = f(x); return v; var v; function f(y) { return y } }", [], 1],
  // classes
  ["methods, getters, classes", "x => { const o = { f(y) { return y }, get g() { return 1 } }; class A { v = 1; m() { return this.v } }; return o.f(x) + new A().m() }", [], 1],
  ["extends, static fields and private names", "x => { class A extends Base { static s = k; #p = 1; m() { return this.#p + A.s } } return new A().m() }", ["Base", "k"], 1],
  ["a class expression's name is its own", "x => { const B = class C { m() { return C } }; return new B().m() === B }", [], 1],
  ["method names are not variables", "x => { class A { k() { return 1 } static m() { return 2 } } return new A().k() + A.m() }", [], 1],
  // labels
  ["labels are not variables", "x => { k: for (;;) { break k } m: { break m } return x }", [], 1],
  ["inner functions, labels, catch", "x => { function inner(a) { return a } outer: for (;;) { break outer } try { return inner(x) } catch (e) { return e } }", [], 1],
  // regular expressions
  ["a regular expression's text is not code", "s => /k[/]\\/${m}/.test(s) ? 1 : s / k / 2", ["k"], "x"],
  ["division after a bracket is not a regex", "a => a[0] / k / 2", ["k"], [4]],
  ["a backtick in a regex", "s => s.replace(/`/g, k)", ["k"], "a`b"],
  // template literals
  ["template and regex", "s => `${s}${k}` + /a\\/b[/]/.test(s) / 2", ["k"], "x"],
  ["nested templates", "s => `${s}k${`${k}`}`", ["k"], "x"],
  ["an object inside a substitution", "s => `${{ m: s }.m}`", [], "x"],
  ["a tag is a use", "s => tag`x${s}`", ["tag"], "x"],
  // this and arguments
  ["a function's own this and arguments", "function () { return (this?.k ?? 0) + arguments.length }", [], 1],
  ["an arrow inside a function shares them", "function () { return (() => (this?.k ?? 0) + arguments[0])() }", [], 1],
  ["an arrow's this is the caller's", "() => this.k", ["this"]],
  ["an arrow's arguments are the caller's", "x => arguments[0]", ["arguments"]],
  ["a class member's this is its own", "x => { class A { f = this; static { this.s = 1 } m() { return this } } return new A().m() }", [], 1],
  ["a computed class key's this is the caller's", "x => { class A { [this.k] = 1 } }", ["this"]],
  // other forms of functions
  ["method shorthand", "f(x) { return x + k }", ["k"]],
  ["a getter", "get g() { return k }", ["k"]],
  ["async generators", "async function* g(x) { for await (const y of x) yield y + k }", ["k"]],
  ["a named function expression sees its name", "function fact(n) { return n <= 1 ? 1 : n * fact(n - 1) }", [], 4],
  ["unicode escapes name the same variable", "x => \\u006b + x", ["k"], 1],
  ["typeof an undeclared name is still a capture (though it does not throw)", "x => typeof k", ["k"]],
  ["imports captured under vitest", "x => __vi_import_0__.square(x)", ["__vi_import_0__"]],
  ["the keep-names helper is provided", "x => { function f() {} __name(f, 'f'); return x }", [], 1]
]

/** The function made from `source` by V8 (strict, like the engines), with `names` defined as outer variables. */
const callWith = (source: string, names: ReadonlyArray<string>, arg: unknown): unknown => {
  const sentinel = function sentinel() { return 1 }
  const make = new Function("__name", ...names, `"use strict"; return (${source}\n)`)
  return make((f: unknown) => f, ...names.map(() => sentinel))(arg)
}

describe("free variables", () => {
  for (const [what, source, free, arg] of table) it(what, () => {
    expect(freeVariables(source)).toEqual(free)
    if (arg === undefined) return
    const variables = free.filter((name) => name !== "this" && name !== "arguments")
    expect(() => callWith(source, variables, arg)).not.toThrow(ReferenceError)
    for (const missing of variables) {
      expect(() => callWith(source, variables.filter((name) => name !== missing), arg)).toThrow(new RegExp(`\\b${missing}\\b.*not defined`))
    }
  })

  it("the oracle can fail: V8 reports a name the analysis would have missed", () => {
    expect(() => callWith("x => x + k", [], 1)).toThrow(/k is not defined/)
  })

  it("a capturing function is refused before anything is sent, naming what it captures", async () => {
    const k = 3
    const refused = await Effect.runPromise(Effect.flip(Remote.fromFunction((x: number) => x * k)))
    expect(refused).toMatchObject({ _tag: "NotShippable", captured: ["k"] })
    expect(refused.message).toMatch(/captures outer variables \(k\)/)
    expect(() => Remote.fn(Math.max)).toThrow(/native or bound/)
  })

  it("an arrow using its caller's this is refused, saying so", async () => {
    class Scaler {
      factor = 2
      ship() {
        return Remote.fromFunction((x: number) => x * this.factor)
      }
    }
    const refused = await Effect.runPromise(Effect.flip(new Scaler().ship()))
    expect(refused.captured).toEqual(["this"])
    expect(refused.message).toMatch(/captures outer variables \(this \(the caller's\)\)/)
  })

  it("a self-contained function ships", async () => {
    const remote = await Effect.runPromise(Remote.fromFunction(function norm(xs: Array<number>) {
      let sum = 0
      for (const x of xs) sum += x * x
      return Math.sqrt(sum)
    }))
    expect(remote.spec).toMatchObject({ kind: "source", name: "norm" })
  })
})
