/**
 * Fingerprints of exact floating-point results, so "bit-identical" can be checked with a short string (and
 * compared across threads, tiers and runs): each domain's `checksum` is this hash over its state.
 *
 * The hash is 64-bit FNV-1a over the raw bytes of Float64Arrays, computed in 32-bit halves (no BigInt). The bytes
 * are the platform's in-memory order, little-endian on every platform Node supports in practice (x64, arm64).
 * FNV-1a is not collision resistant against an adversary; it is plenty to tell two simulation results apart,
 * and any single flipped bit changes it.
 */

/**
 * The same bytes, except that every NaN of a float array is the one canonical quiet NaN. JavaScript has one NaN
 * value (`Object.is` cannot tell payloads apart), but its bits are not fixed: measured on Node 24, the same
 * `0 / 0`-like step gave 0x7ff8… in one thread and 0xfff8… in another. Results equal as JavaScript values must
 * fingerprint equal. Arrays without a NaN are hashed in place (a copy only when one is found).
 */
const canonicalBytes = (data: ArrayBufferView): Uint8Array => {
  if (!(data instanceof Float64Array || data instanceof Float32Array) || !data.some(Number.isNaN)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  }
  const copy = data instanceof Float64Array ? new Float64Array(data) : new Float32Array(data)
  const words = new Uint32Array(copy.buffer)
  for (let i = 0; i < copy.length; i++) {
    if (!Number.isNaN(copy[i])) continue
    if (copy instanceof Float64Array) {
      words[2 * i] = 0 // little-endian: low word first
      words[2 * i + 1] = 0x7ff80000
    } else words[i] = 0x7fc00000
  }
  return new Uint8Array(copy.buffer)
}

const OFFSET_HI = 0xcbf29ce4
const OFFSET_LO = 0x84222325
const TWO_POW_32 = 4294967296

/** Incremental 64-bit FNV-1a; feed arrays with `update`, read the result with `hex`. */
export class Fnv1a64 {
  private hi = OFFSET_HI
  private lo = OFFSET_LO

  /** Absorbs bytes; accepts any typed array (hashed as its underlying bytes). */
  update(data: ArrayBufferView): this {
    const bytes = canonicalBytes(data)
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
