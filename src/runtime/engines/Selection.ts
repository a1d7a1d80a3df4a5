/**
 * Which engines a view talks to: all of them, one, a list, or a slice in
 * Python's manner (`{ step: 2 }` is every other engine, `{ start: -1 }` the
 * last one), IPython's `rc[:]`, `rc[0]`, `rc[::2]`.
 */
import { NoSuchEngine } from "./Errors.ts"

export interface Slice {
  readonly start?: number
  readonly stop?: number
  readonly step?: number
}

export type Selection = "all" | number | ReadonlyArray<number> | Slice

const show = (selection: Selection): string =>
  typeof selection === "string" || typeof selection === "number"
    ? String(selection)
    : Array.isArray(selection)
    ? `[${selection.join(", ")}]`
    : `[${(selection as Slice).start ?? ""}:${(selection as Slice).stop ?? ""}${(selection as Slice).step === undefined ? "" : `:${(selection as Slice).step}`}]`

/** Python's slice over `ids`. */
const slice = (ids: ReadonlyArray<number>, { start, step = 1, stop }: Slice): Array<number> => {
  const n = ids.length
  if (!Number.isInteger(step) || step === 0) return []
  const norm = (i: number | undefined, fallback: number, lo: number, hi: number) =>
    i === undefined ? fallback : Math.min(hi, Math.max(lo, i < 0 ? i + n : i))
  const out: Array<number> = []
  if (step > 0) {
    for (let i = norm(start, 0, 0, n); i < norm(stop, n, 0, n); i += step) out.push(ids[i]!)
  } else {
    for (let i = norm(start, n - 1, -1, n - 1); i > norm(stop, -1, -1, n - 1); i += step) out.push(ids[i]!)
  }
  return out
}

/** The engine ids a selection names, or `NoSuchEngine` if it names an unknown engine or none at all. */
export const resolve = (ids: ReadonlyArray<number>, selection: Selection = "all"): Array<number> | NoSuchEngine => {
  const none = () => new NoSuchEngine({ selection: show(selection), ids: [...ids] })
  let out: Array<number>
  if (selection === "all") out = [...ids]
  else if (typeof selection === "number") {
    const i = selection < 0 ? selection + ids.length : selection
    if (!Number.isInteger(selection) || i < 0 || i >= ids.length) return none()
    out = [ids[i]!]
  } else if (Array.isArray(selection)) {
    if (selection.some((id) => !ids.includes(id))) return none()
    out = [...selection]
  } else {
    out = slice(ids, selection as Slice)
  }
  return out.length === 0 ? none() : out
}
