/**
 * One benchmark figure: what was measured, its value, and its ratio against the
 * baseline it is judged by (measured in the same run).
 */
export interface Row {
  readonly section: string
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly ratio?: number
  readonly note?: string
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
