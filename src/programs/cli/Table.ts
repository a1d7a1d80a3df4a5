/**
 * Prints result rows as an aligned text table, or as one JSON object per line
 * (`--json`), and nothing else on stdout in that case.
 */
import { Console, Effect } from "effect"

export interface Column<Row> {
  readonly header: string
  readonly cell: (row: Row) => string
  /** Right-align (numbers). */
  readonly right?: boolean
}

export const format = <Row>(columns: ReadonlyArray<Column<Row>>, rows: ReadonlyArray<Row>): string => {
  const cells = rows.map((row) => columns.map((column) => column.cell(row)))
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)))
  const pad = (text: string, i: number) => (columns[i]!.right ? text.padStart(widths[i]!) : text.padEnd(widths[i]!))
  const lines = [
    columns.map((column, i) => pad(column.header, i)).join("  "),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...cells.map((line) => line.map(pad).join("  "))
  ]
  return lines.join("\n")
}

/** Print one JSON line per row. */
export const json = <Row>(rows: ReadonlyArray<Row>): Effect.Effect<void> =>
  Effect.forEach(rows, (row) => Console.log(JSON.stringify(row)), { discard: true })

/** Number formatting for tables. */
export const fixed = (digits: number) => (x: number): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x))
export const si = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  const units = ["", "k", "M", "G", "T"]
  let i = 0
  while (Math.abs(x) >= 1000 && i < units.length - 1) {
    x /= 1000
    i++
  }
  return `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)}${units[i]}`
}
