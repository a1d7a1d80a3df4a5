/**
 * Prints result rows as an aligned text table, or as one JSON object per line
 * (`--json`), and nothing else on stdout in that case.
 */
import { Console, Effect } from "effect"
import { Progress } from "../../runtime/index.ts"

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
/** SI suffixes (1.20k, 410M): the progress bar's rule, one place. */
export const si = Progress.si
