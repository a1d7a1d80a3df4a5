/**
 * Finds the free variables of a function's source: the names it uses but does
 * not declare, so a function that captures outer variables can be refused
 * before it is shipped to engines, with the captured names in the message.
 *
 * It is a small tokenizer plus declaration patterns, not a full parser. It
 * errs on the side of accepting: a name declared anywhere inside the function
 * counts as declared everywhere in it, and ambiguous positions count as
 * declarations. Whatever slips through still fails on the engine, as a
 * `ReferenceError` that the engine reports as a captured variable.
 */

type Kind = "id" | "punct" | "value" | "regex"

interface Token {
  readonly kind: Kind
  readonly text: string
}

const PUNCTUATORS = [
  ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=",
  "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
  "**", "<<", ">>",
  "{", "}", "(", ")", "[", "]", ";", ",", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "?", ":", "=",
  ".", "@", "#"
]

const KEYWORDS = new Set([
  "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "export",
  "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "null", "return",
  "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield", "let",
  "static", "await", "async", "of", "get", "set", "arguments"
])

/** Names every engine defines for shipped functions: `__name` is the helper TypeScript loaders insert to keep function names. */
export const ALWAYS_DEFINED = new Set(["__name"])

/** After these tokens a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"])

const isIdStart = (c: string) => /[A-Za-z_$\u0080-\uffff]/.test(c)
const isIdPart = (c: string) => /[\w$\u0080-\uffff]/.test(c)

export const tokenize = (source: string): Array<Token> => {
  const tokens: Array<Token> = []
  /** One entry per open `{`: true when it opened a template's `${`. */
  const braces: Array<boolean> = []
  let i = 0
  const n = source.length

  const last = () => tokens[tokens.length - 1]
  const regexAllowed = () => {
    const prev = last()
    if (prev === undefined) return true
    if (prev.kind === "value" || prev.kind === "regex") return false
    if (prev.kind === "id") return BEFORE_REGEX.has(prev.text)
    return prev.text !== ")" && prev.text !== "]"
  }

  /** Scans template text from `i` (just after a backtick or a `}` closing `${`) to its end or the next `${`. */
  const template = () => {
    while (i < n) {
      const c = source[i]!
      if (c === "\\") {
        i += 2
      } else if (c === "`") {
        i++
        tokens.push({ kind: "value", text: "`" })
        return
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2
        tokens.push({ kind: "value", text: "`" })
        tokens.push({ kind: "punct", text: "(" })
        braces.push(true)
        return
      } else {
        i++
      }
    }
  }

  while (i < n) {
    const c = source[i]!
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\u2028" || c === "\u2029" || c === "\ufeff") {
      i++
      continue
    }
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++
      continue
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2)
      i = end < 0 ? n : end + 2
      continue
    }
    if (c === "'" || c === "\"") {
      i++
      while (i < n && source[i] !== c) i += source[i] === "\\" ? 2 : 1
      i++
      tokens.push({ kind: "value", text: "str" })
      continue
    }
    if (c === "`") {
      i++
      template()
      continue
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(source[i + 1] ?? ""))) {
      const hex = /^0[xX]/.test(source.slice(i, i + 2))
      while (i < n) {
        const d = source[i]!
        if ((d === "+" || d === "-") && /[eE]/.test(source[i - 1]!) && !hex) {
          i++
        } else if (/[\w.]/.test(d)) {
          i++
        } else {
          break
        }
      }
      tokens.push({ kind: "value", text: "num" })
      continue
    }
    if (isIdStart(c) || c === "\\") {
      const start = i
      i++
      while (i < n && (isIdPart(source[i]!) || source[i] === "\\")) i++
      tokens.push({ kind: "id", text: source.slice(start, i) })
      continue
    }
    if (c === "/" && regexAllowed()) {
      i++
      let inClass = false
      while (i < n) {
        const d = source[i]!
        if (d === "\\") i += 2
        else if (d === "[") (inClass = true), i++
        else if (d === "]") (inClass = false), i++
        else if (d === "/" && !inClass) break
        else i++
      }
      i++
      while (i < n && isIdPart(source[i]!)) i++
      tokens.push({ kind: "regex", text: "re" })
      continue
    }
    if (c === "}" && braces.length > 0 && braces[braces.length - 1] === true) {
      braces.pop()
      tokens.push({ kind: "punct", text: ")" })
      i++
      template()
      continue
    }
    let punct = PUNCTUATORS.find((p) => source.startsWith(p, i))
    if (punct === "?." && /[0-9]/.test(source[i + 2] ?? "")) punct = "?"
    if (punct === undefined) {
      i++
      continue
    }
    if (punct === "{") braces.push(false)
    else if (punct === "}") braces.pop()
    tokens.push({ kind: "punct", text: punct })
    i += punct.length
  }
  return tokens
}

/** For each opening bracket, the index of its closing one (and back). */
const matchBrackets = (tokens: ReadonlyArray<Token>): Map<number, number> => {
  const match = new Map<number, number>()
  const stack: Array<number> = []
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t.kind !== "punct") continue
    if (t.text === "(" || t.text === "[" || t.text === "{") stack.push(i)
    else if (t.text === ")" || t.text === "]" || t.text === "}") {
      const open = stack.pop()
      if (open !== undefined) {
        match.set(open, i)
        match.set(i, open)
      }
    }
  }
  return match
}

const isPunct = (t: Token | undefined, text: string) => t !== undefined && t.kind === "punct" && t.text === text
const isWord = (t: Token | undefined, text: string) => t !== undefined && t.kind === "id" && t.text === text

/** Names used but not declared in `source` (keywords and globals excluded). */
export const freeVariables = (source: string, globals: (name: string) => boolean = (name) => name in globalThis): Array<string> => {
  const tokens = tokenize(source)
  const match = matchBrackets(tokens)
  const declared = new Set<string>()
  const methodNames = new Set<number>()

  /** Declares every identifier between two token indexes (generous: keys and defaults included). */
  const declareRange = (from: number, to: number) => {
    for (let k = from; k < to; k++) {
      const t = tokens[k]!
      if (t.kind === "id" && !KEYWORDS.has(t.text)) declared.add(t.text)
    }
  }

  /** Declarations after `var` / `let` / `const` at `i`: patterns, skipping initialisers. */
  const declareBindings = (i: number) => {
    let k = i + 1
    for (;;) {
      const t = tokens[k]
      if (t === undefined) return
      if (t.kind === "id") {
        declared.add(t.text)
        k++
      } else if (isPunct(t, "{") || isPunct(t, "[")) {
        const close = match.get(k) ?? tokens.length
        declareRange(k + 1, close)
        k = close + 1
      } else {
        return
      }
      if (!isPunct(tokens[k], "=")) {
        if (isPunct(tokens[k], ",")) {
          k++
          continue
        }
        return
      }
      // Skip the initialiser: up to a `,` or `;` at this depth, or a bracket closing an outer one.
      k++
      let depth = 0
      while (k < tokens.length) {
        const u = tokens[k]!
        if (u.kind === "punct") {
          if (u.text === "(" || u.text === "[" || u.text === "{") depth++
          else if (u.text === ")" || u.text === "]" || u.text === "}") {
            if (depth === 0) return
            depth--
          } else if (depth === 0 && (u.text === "," || u.text === ";")) break
        } else if (depth === 0 && u.kind === "id" && (u.text === "var" || u.text === "let" || u.text === "const")) {
          return
        }
        k++
      }
      if (!isPunct(tokens[k], ",")) return
      k++
    }
  }

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t.kind === "id") {
      if (t.text === "var" || t.text === "let" || t.text === "const") {
        if (!isPunct(tokens[i - 1], ".")) declareBindings(i)
      } else if (t.text === "function") {
        let k = i + 1
        if (isPunct(tokens[k], "*")) k++
        if (tokens[k]?.kind === "id") declared.add(tokens[k]!.text), k++
        if (isPunct(tokens[k], "(")) declareRange(k + 1, match.get(k) ?? k)
      } else if (t.text === "class") {
        if (tokens[i + 1]?.kind === "id" && tokens[i + 1]!.text !== "extends") declared.add(tokens[i + 1]!.text)
      } else if (t.text === "catch") {
        if (isPunct(tokens[i + 1], "(")) declareRange(i + 2, match.get(i + 1) ?? i + 1)
      } else if (!KEYWORDS.has(t.text) && isPunct(tokens[i + 1], "(") && !isPunct(tokens[i - 1], ".")) {
        // A method definition: `name(params) {` in an object literal or a class body.
        const close = match.get(i + 1)
        if (close !== undefined && isPunct(tokens[close + 1], "{")) {
          const prev = tokens[i - 1]
          const definitionContext = prev === undefined || (prev.kind === "punct" && ["{", ",", "}", ";", "*"].includes(prev.text)) ||
            (prev.kind === "id" && ["get", "set", "static", "async"].includes(prev.text))
          if (definitionContext) {
            methodNames.add(i)
            declareRange(i + 2, close)
          }
        }
      }
    } else if (isPunct(t, "=>")) {
      const prev = tokens[i - 1]
      if (isPunct(prev, ")")) declareRange((match.get(i - 1) ?? i - 1) + 1, i - 1)
      else if (prev?.kind === "id") declared.add(prev.text)
    }
  }

  // Class bodies: an identifier directly inside one names a member (field or method), not a variable.
  const classBodies = new Set<number>()
  for (let i = 0; i < tokens.length; i++) {
    if (!isWord(tokens[i], "class")) continue
    let k = i + 1
    while (k < tokens.length && !isPunct(tokens[k], "{")) k++
    if (k < tokens.length) classBodies.add(k)
  }
  const enclosing: Array<number> = new Array(tokens.length).fill(-1)
  const stack: Array<number> = []
  for (let i = 0; i < tokens.length; i++) {
    enclosing[i] = stack.length > 0 ? stack[stack.length - 1]! : -1
    const t = tokens[i]!
    if (t.kind !== "punct") continue
    if (t.text === "(" || t.text === "[" || t.text === "{") stack.push(i)
    else if (t.text === ")" || t.text === "]" || t.text === "}") stack.pop()
  }

  const free: Array<string> = []
  const seen = new Set<string>()
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if (t.kind !== "id" || KEYWORDS.has(t.text) || methodNames.has(i) || ALWAYS_DEFINED.has(t.text)) continue
    if (classBodies.has(enclosing[i]!)) continue
    const prev = tokens[i - 1]
    if (isPunct(prev, ".") || isPunct(prev, "?.") || isPunct(prev, "#")) continue
    if (isWord(prev, "function") || isWord(prev, "class") || isWord(prev, "break") || isWord(prev, "continue")) continue
    // Object keys, destructuring keys and labels: `{ key: ...`, `, key: ...`, `label: for`.
    if (isPunct(tokens[i + 1], ":") && (prev === undefined || (prev.kind === "punct" && ["{", ",", ";", "}"].includes(prev.text)))) continue
    if ((isWord(prev, "get") || isWord(prev, "set")) && isPunct(tokens[i + 1], "(")) continue
    if (declared.has(t.text) || seen.has(t.text) || globals(t.text)) continue
    seen.add(t.text)
    free.push(t.text)
  }
  return free
}
