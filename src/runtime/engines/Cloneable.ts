/**
 * What can travel between the client and engines: values that structured
 * cloning accepts (numbers, strings, plain objects, arrays, typed arrays,
 * Map, Set, Date, ...; a `SharedArrayBuffer` is shared, not copied).
 *
 * A value that `postMessage` would reject (a function, a symbol, a promise, a
 * module namespace) is found before it is sent, so it becomes a typed
 * `NotCloneable` naming where it sits, instead of an exception thrown later
 * inside the message batching, where it would take other messages with it.
 */

const describeKind = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "function":
      return "a function"
    case "symbol":
      return "a symbol"
    case "object": {
      if (value === null) return undefined
      if (value instanceof Promise) return "a promise"
      if (value instanceof WeakMap || value instanceof WeakSet) return "a weak collection"
      const tag = Object.prototype.toString.call(value)
      if (tag === "[object Module]") return "a module namespace"
      if (tag === "[object Generator]" || tag === "[object AsyncGenerator]") return "a generator"
      return undefined
    }
    default:
      return undefined
  }
}

/** Where the first uncloneable part of `value` sits (`$` is the value itself) and what it is, or undefined. */
export const findUncloneable = (value: unknown, root = "$"): { readonly path: string; readonly kind: string } | undefined => {
  const seen = new Set<object>()
  const visit = (v: unknown, path: string): { path: string; kind: string } | undefined => {
    if (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol") return undefined
    const kind = describeKind(v)
    if (kind !== undefined) return { path, kind }
    if (v === null) return undefined
    const o = v as object
    if (seen.has(o)) return undefined
    seen.add(o)
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof SharedArrayBuffer || o instanceof Date || o instanceof RegExp) {
      return undefined
    }
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const item = o[i]
        if (typeof item === "object" || typeof item === "function" || typeof item === "symbol") {
          const found = visit(item, `${path}[${i}]`)
          if (found) return found
        }
      }
      return undefined
    }
    if (o instanceof Map) {
      for (const [key, item] of o) {
        const found = visit(key, `${path}.<key>`) ?? visit(item, `${path}.get(${String(key)})`)
        if (found) return found
      }
      return undefined
    }
    if (o instanceof Set) {
      for (const item of o) {
        const found = visit(item, `${path}.<item>`)
        if (found) return found
      }
      return undefined
    }
    for (const key of Object.keys(o)) {
      const found = visit((o as Record<string, unknown>)[key], `${path}.${key}`)
      if (found) return found
    }
    return undefined
  }
  return visit(value, root)
}
