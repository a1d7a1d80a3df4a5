/**
 * Fingerprints of exact floating-point results, so "bit-identical" can be checked with a short string (and
 * compared across threads, tiers and runs): each domain's `checksum` is this hash over its state.
 *
 * The hash is 64-bit FNV-1a over the raw bytes of Float64Arrays, computed in 32-bit halves (no BigInt). The bytes
 * are the platform's in-memory order, little-endian on every platform Node supports in practice (x64, arm64).
 * FNV-1a is not collision resistant against an adversary; it is plenty to tell two simulation results apart,
 * and any single flipped bit changes it.
 */

const OFFSET_HI = 0xcbf29ce4
const OFFSET_LO = 0x84222325
const TWO_POW_32 = 4294967296

/** Incremental 64-bit FNV-1a; feed arrays with `update`, read the result with `hex`. */
export class Fnv1a64 {
  private hi = OFFSET_HI
  private lo = OFFSET_LO

  /** Absorbs bytes; accepts any typed array (hashed as its underlying bytes). */
  update(data: ArrayBufferView): this {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    let hi = this.hi
    let lo = this.lo
    for (let i = 0; i < bytes.length; i++) {
      lo = (lo ^ bytes[i]!) >>> 0
      // h *= 0x100000001b3 = 2^40 + 0x1b3 (mod 2^64): lo·0x1b3 < 2^41 is exact in a double; its carry and the
      // 2^40 term (lo << 8 lands in the high word) go into hi.
      const p = lo * 0x1b3
      hi = (hi * 0x1b3 + Math.floor(p / TWO_POW_32) + (lo << 8)) >>> 0
      lo = p >>> 0
    }
    this.hi = hi
    this.lo = lo
    return this
  }

  /** Absorbs a number as an exact 64-bit double (used for sizes and parameters). */
  updateNumber(v: number): this {
    return this.update(new Float64Array([v]))
  }

  /** The 64-bit digest as 16 lowercase hex digits. */
  hex(): string {
    return this.hi.toString(16).padStart(8, "0") + this.lo.toString(16).padStart(8, "0")
  }
}

/** FNV-1a 64 of the concatenated bytes of the given arrays, as hex. */
export const fnv1a64 = (...arrays: ReadonlyArray<ArrayBufferView>): string => {
  const h = new Fnv1a64()
  for (const a of arrays) h.update(a)
  return h.hex()
}
