/**
 * Every program compares its modes with the serial one from the same run: the
 * speedup, and whether the result has the same exact bits (its checksum).
 */

interface Timed {
  readonly mode: string
  readonly seconds: number
  readonly checksum: string
}

/** Add `speedup` (serial seconds / mode seconds) and `matchesSerial`; both null when serial was not run. */
export const compare = <R extends Timed>(rows: ReadonlyArray<R>): Array<R & { speedup: number | null; matchesSerial: boolean | null }> => {
  const serial = rows.find((row) => row.mode === "serial")
  return rows.map((row) => ({
    ...row,
    speedup: serial === undefined ? null : serial.seconds / row.seconds,
    matchesSerial: serial === undefined ? null : row.checksum === serial.checksum
  }))
}
