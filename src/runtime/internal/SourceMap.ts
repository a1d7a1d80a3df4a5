/**
 * Maps stack frames in worker bundles back to the `.ts` sources, on demand.
 *
 * Every bundle a worker loads has a source map beside it (see `WorkerBundle`). Node's own
 * `--enable-source-maps` reads and decodes the whole map when the bundle loads: for the base bundle (2.7 MB,
 * a 1.8 MB map) that added 0.5–0.7 s to every worker's boot on this machine, paid whether anything fails or
 * not. Here nothing is read until a stack is rendered (`trace`); then the map's `mappings` are scanned once
 * per file, keeping only where each generated line starts and the decoder's state there, and each frame is
 * looked up by decoding its one line. A frame whose file has no map beside it, or whose position the map does
 * not cover, is left as it was; so is a stack the host already mapped (under tsx or vitest).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

interface Decoded {
  readonly mappings: string
  readonly sources: ReadonlyArray<string>
  /** Per generated line: offset in `mappings`, then source, original line and column in effect at its start. */
  readonly lines: Int32Array
}

const BASE64 = new Int8Array(128).fill(-1)
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()) BASE64[c.charCodeAt(0)] = i

const SEMICOLON = 59
const COMMA = 44

/** Fields of the segment `segment` last decoded, and how many it had (module state: no allocation per segment). */
const fields = new Int32Array(5)
let count = 0

/** Decode the segment at `at` into `fields` / `count`; returns the offset after it. */
const segment = (mappings: string, at: number): number => {
  count = 0
  let i = at
  while (i < mappings.length) {
    const c = mappings.charCodeAt(i)
    if (c === COMMA || c === SEMICOLON) break
    let value = 0
    let shift = 0
    for (;;) {
      const digit = BASE64[mappings.charCodeAt(i++)]!
      if (digit < 0) throw new SyntaxError("bad source map")
      value += (digit & 31) * 2 ** shift
      shift += 5
      if ((digit & 32) === 0) break
    }
    if (count < 5) fields[count] = value & 1 ? -((value - 1) / 2) : value / 2
    count++
  }
  return i
}

const decode = (mappings: string, sources: ReadonlyArray<string>): Decoded => {
  const starts: Array<number> = [0, 0, 0, 0]
  let source = 0
  let line = 0
  let column = 0
  let i = 0
  while (i < mappings.length) {
    const c = mappings.charCodeAt(i)
    if (c === SEMICOLON) {
      i++
      starts.push(i, source, line, column)
      continue
    }
    if (c === COMMA) {
      i++
      continue
    }
    i = segment(mappings, i)
    if (count >= 4) {
      source += fields[1]!
      line += fields[2]!
      column += fields[3]!
    }
  }
  return { mappings, sources, lines: Int32Array.from(starts) }
}

/** The original position of a generated one (0-based line and column), if the map covers it. */
const lookup = (map: Decoded, line: number, column: number) => {
  if (line < 0 || 4 * line >= map.lines.length) return undefined
  let i = map.lines[4 * line]!
  let source = map.lines[4 * line + 1]!
  let original = map.lines[4 * line + 2]!
  let originalColumn = map.lines[4 * line + 3]!
  let generated = 0
  let found: { source: number; line: number; column: number } | undefined
  while (i < map.mappings.length && map.mappings.charCodeAt(i) !== SEMICOLON) {
    if (map.mappings.charCodeAt(i) === COMMA) {
      i++
      continue
    }
    i = segment(map.mappings, i)
    generated += fields[0]!
    if (count >= 4) {
      source += fields[1]!
      original += fields[2]!
      originalColumn += fields[3]!
    }
    if (generated > column) break
    found = count >= 4 ? { source, line: original, column: originalColumn } : undefined
  }
  if (found === undefined || map.sources[found.source] === undefined) return undefined
  return { source: map.sources[found.source]!, line: found.line, column: found.column }
}

/** Decoded maps by bundle path; `null` when the file has none beside it. */
const maps = new Map<string, Decoded | null>()

const mapFor = (file: string): Decoded | null => {
  let map = maps.get(file)
  if (map === undefined) {
    map = null
    try {
      const raw = JSON.parse(Fs.readFileSync(`${file}.map`, "utf8")) as { mappings?: unknown; sources?: unknown; sourceRoot?: unknown }
      if (typeof raw.mappings === "string" && Array.isArray(raw.sources)) {
        const root = Path.resolve(Path.dirname(file), typeof raw.sourceRoot === "string" ? raw.sourceRoot : "")
        map = decode(raw.mappings, raw.sources.map((source) => Path.resolve(root, String(source))))
      }
    } catch {
      map = null
    }
    maps.set(file, map)
  }
  return map
}

/** `    at name (file:///.../bundle.mjs:12:34)` or `    at file:///.../bundle.mjs:12:34`. */
const FRAME = /^(\s+at (?:.*?\()?)((?:file:\/\/)?\/[^():]+\.m?js):(\d+):(\d+)(\)?)$/

/** A stack with every frame in a mapped bundle rewritten to its source file, line and column. */
export const mapStack = (stack: string): string => {
  if (!stack.includes(".mjs:") && !stack.includes(".js:")) return stack
  return stack.split("\n").map((text) => {
    const frame = FRAME.exec(text)
    if (frame === null) return text
    const [, head, location, line, column, tail] = frame
    let file: string
    try {
      file = location!.startsWith("file:") ? fileURLToPath(location!) : location!
    } catch {
      return text
    }
    const map = mapFor(file)
    if (map === null) return text
    const original = lookup(map, Number(line) - 1, Number(column) - 1)
    return original === undefined ? text : `${head}${original.source}:${original.line + 1}:${original.column + 1}${tail}`
  }).join("\n")
}
