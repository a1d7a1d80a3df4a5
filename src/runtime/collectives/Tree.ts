/**
 * The fixed tree over logical ranks that every collective follows, and the serial reference of the results it
 * gives.
 *
 * Rank 0 is the root; rank r's parent is r with its lowest set bit cleared, and its children are r + 1, r + 2,
 * r + 4, … below that bit (and below the group's size) — a binomial tree. A rank's *partial* is its own value
 * combined, in that order, with its children's partials: `((v_r ⊕ P(r+1)) ⊕ P(r+2)) ⊕ P(r+4)`, which covers ranks
 * [r, r + 2^k) left to right. So the whole reduction is bracketed as the pairwise tree (0,1), (2,3), … then pairs
 * of those, and the bracketing depends on nothing but the group's size: not on the worker count, the placement or
 * the order messages arrive in. That is what makes a floating-point `allreduce` give the same bits everywhere.
 *
 * An inclusive scan follows the same tree: rank s's exclusive prefix is its parent's exclusive prefix combined
 * with the parent's partial over [parent, s) — the ranks before s in its parent's block — and its result is that
 * prefix combined with its own value.
 */

/** Rank r's parent (r with its lowest set bit cleared); rank 0 has none. */
export const parent = (rank: number): number => rank & (rank - 1)

/** Rank r's children, in the order their partials are combined into r's. */
export const children = (rank: number, size: number): Array<number> => {
  const out: Array<number> = []
  for (let d = 1; (rank & d) === 0 && rank + d < size && d <= 2 ** 30; d *= 2) out.push(rank + d)
  return out
}

/** The serial reference of a reduction over `values` (one per rank, at least one): the tree's bracketing. */
export const reduce = <A>(combine: (a: A, b: A) => A, values: ReadonlyArray<A>): A => {
  if (values.length === 0) throw new RangeError("a reduction needs at least one value")
  const partial = (rank: number): A => {
    let acc = values[rank] as A
    for (const child of children(rank, values.length)) acc = combine(acc, partial(child))
    return acc
  }
  return partial(0)
}

/** The serial reference of an inclusive scan: rank r gets v_0 ⊕ … ⊕ v_r, bracketed by the tree. */
export const scan = <A>(combine: (a: A, b: A) => A, values: ReadonlyArray<A>): Array<A> => {
  const out = new Array<A>(values.length)
  /** Visits r's subtree given r's exclusive prefix (none at rank 0); returns r's partial. */
  const visit = (rank: number, before: { readonly value: A } | undefined): A => {
    let acc = values[rank] as A
    out[rank] = before === undefined ? acc : combine(before.value, acc)
    for (const child of children(rank, values.length)) {
      const partial = visit(child, { value: before === undefined ? acc : combine(before.value, acc) })
      acc = combine(acc, partial)
    }
    return acc
  }
  if (values.length > 0) visit(0, undefined)
  return out
}
