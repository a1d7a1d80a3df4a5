/**
 * Finds the free variables of a function's source: the names it uses but does
 * not declare, so a function that captures outer variables can be refused
 * before it is shipped to engines, with the captured names in the message.
 *
 * The source is parsed by acorn and its scopes resolved by eslint-scope (the
 * scope analyser ESLint itself runs), so destructuring, default parameters,
 * classes, labels, regular expressions, template literals and `arguments`
 * follow the language's own rules rather than patterns. A free name is a
 * reference that no scope inside the function resolves and that is not a
 * global of this realm. `this` at the top of an arrow function is the caller's
 * (an arrow has none of its own): it is reported too, as `this`.
 *
 * Analysed as the engines compile it: strict code (see `Remote.compile`).
 * Source acorn cannot parse (syntax newer than it knows) is not refused here:
 * it still fails on the engine, as a `ReferenceError` that the engine reports
 * as a captured variable.
 */
import * as Acorn from "acorn"
import * as EslintScope from "eslint-scope"
import type * as ESTree from "estree"

/** Names every engine defines for shipped functions: `__name` is the helper TypeScript loaders insert to keep function names. */
export const ALWAYS_DEFINED = new Set(["__name"])

/** What stands for the caller's `this` in the list of captured names. */
export const THIS = "this"

const ECMA_VERSION = 2022

const parseExpression = (text: string): ESTree.Program =>
  Acorn.parse(text, { ecmaVersion: "latest", sourceType: "script", ranges: true }) as unknown as ESTree.Program

/**
 * Parse a function's source as an expression; a method's source (`f(x) { ... }`,
 * `get g() { ... }`) is read as the only member of an object literal, as `compile` does.
 */
const parse = (source: string): ESTree.Program => {
  try {
    return parseExpression(`(${source}\n)`)
  } catch (error) {
    try {
      return parseExpression(`({${source}\n})`)
    } catch {
      throw error
    }
  }
}

const isNode = (u: unknown): u is ESTree.Node =>
  typeof u === "object" && u !== null && typeof (u as { type?: unknown }).type === "string"

/** Whether a `this` (or `super`) somewhere in `node` is not bound by a function, method or class member inside it. */
const usesOuterThis = (node: ESTree.Node, bound: boolean): boolean => {
  if (!bound && (node.type === "ThisExpression" || node.type === "Super")) return true
  // Ordinary functions (methods included: their value is a FunctionExpression) and class member bodies bind `this`.
  const binds = node.type === "FunctionExpression" || node.type === "FunctionDeclaration" || node.type === "StaticBlock"
  for (const [key, value] of Object.entries(node)) {
    // A class field's initialiser runs with the instance as `this`; its computed key does not.
    const inner = bound || binds || (node.type === "PropertyDefinition" && key === "value")
    if (Array.isArray(value)) {
      for (const child of value) if (isNode(child) && usesOuterThis(child, inner)) return true
    } else if (isNode(value) && usesOuterThis(value, inner)) {
      return true
    }
  }
  return false
}

/**
 * Names used but not declared in `source`, in order of first use (globals and
 * `ALWAYS_DEFINED` excluded), with `this` when an arrow uses its caller's.
 * Throws acorn's `SyntaxError` when the source does not parse.
 */
export const freeVariables = (source: string, globals: (name: string) => boolean = (name) => name in globalThis): Array<string> => {
  const program = parse(source)
  const scopes = EslintScope.analyze(program, { ecmaVersion: ECMA_VERSION, sourceType: "script", impliedStrict: true })
  const found: Array<{ readonly name: string; readonly at: number }> = []
  const seen = new Set<string>()
  for (const reference of scopes.globalScope!.through) {
    const name = reference.identifier.name
    if (seen.has(name) || ALWAYS_DEFINED.has(name) || globals(name)) continue
    seen.add(name)
    found.push({ name, at: (reference.identifier as unknown as Acorn.Node).start })
  }
  const statement = program.body[0]
  if (statement?.type === "ExpressionStatement" && statement.expression.type === "ArrowFunctionExpression" &&
    usesOuterThis(statement.expression, false)) {
    found.push({ name: THIS, at: Number.POSITIVE_INFINITY })
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.name)
}
