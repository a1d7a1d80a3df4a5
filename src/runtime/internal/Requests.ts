/**
 * The requests a thread is waiting on, by request id: what `Sender` keeps for every ask until its reply comes.
 *
 * Request ids are handed out in order and most are answered soon, so a request lives in a fixed ring of slots at
 * its id's low bits; the few still waiting when the ring comes round to their slot again (a long ask among many
 * short ones) wait in a `Map` beside it. Every operation is O(1), and the ring allocates nothing per request.
 * Why not a `Map` alone: measured here at 64 asks in flight, a `Map` with an insert and a delete per ask made the
 * main thread's young generation promote about two thirds of everything it allocated (the old generation grew by
 * ~15 MB every quarter second, between full collections), and collecting it cost about 40% of the CPU per ask
 * (main thread and the collector's helper threads); with this table the old generation stays flat. (V8 rehashes such a `Map` into a new table every
 * few dozen inserts and links the old table to the new one; a table that was promoted then keeps its successors,
 * and what they hold, alive through minor collections — our reading of it, not confirmed in V8's sources.)
 */

export class Requests<V> {
  /** The id in each slot; 0: free (ids start at 1). */
  private readonly ids: Float64Array
  private readonly values: Array<V | undefined>
  private readonly mask: number
  /** Requests whose slot was taken when they were made. */
  private readonly overflow = new Map<number, V>()
  private count = 0

  /** `slots`: a power of two. */
  constructor(slots = 4096) {
    this.ids = new Float64Array(slots)
    this.values = new Array<V | undefined>(slots).fill(undefined)
    this.mask = slots - 1
  }

  get size(): number {
    return this.count + this.overflow.size
  }

  set(id: number, value: V): void {
    const slot = id & this.mask
    const held = this.ids[slot]!
    if (held === 0 || held === id) {
      if (held === 0) this.count++
      this.ids[slot] = id
      this.values[slot] = value
    } else {
      this.overflow.set(id, value)
    }
  }

  get(id: number): V | undefined {
    const slot = id & this.mask
    if (this.ids[slot] === id) return this.values[slot]
    return this.overflow.size === 0 ? undefined : this.overflow.get(id)
  }

  /** Forget a request; false if it was not waiting. */
  delete(id: number): boolean {
    const slot = id & this.mask
    if (this.ids[slot] === id) {
      this.ids[slot] = 0
      this.values[slot] = undefined
      this.count--
      return true
    }
    return this.overflow.size !== 0 && this.overflow.delete(id)
  }

  /** The requests waiting now, as `[id, value]` (a copy: the table may change while it is walked). */
  entries(): Array<[number, V]> {
    const out: Array<[number, V]> = []
    if (this.count > 0) {
      for (let slot = 0; slot < this.ids.length; slot++) {
        if (this.ids[slot] !== 0) out.push([this.ids[slot]!, this.values[slot]!])
      }
    }
    for (const entry of this.overflow) out.push(entry)
    return out
  }
}
