/**
 * Test support: the runnable parts of the documentation, read from its Markdown — code blocks that name their
 * file on their first line (`// counter.ts`), and the rows of the "from Python" tables (Python | Actorflow |
 * gives) — so that tests run what a reader copies.
 */

export interface CodeFile {
  readonly name: string
  readonly code: string
}

/** The ```ts blocks whose first line is `// <name>.ts` (anything after the name is a comment). */
export const codeFiles = (markdown: string): Array<CodeFile> =>
  [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].flatMap((match) => {
    const code = match[1]!
    const name = /^\/\/ ([\w.-]+\.ts)\b/.exec(code)?.[1]
    return name === undefined ? [] : [{ name, code }]
  })

export interface Line {
  readonly python: string
  /** An expression, run inside the page's session (it may use `yield*`). */
  readonly code: string
  /** What it gives, as JSON; undefined when the row only says it runs. */
  readonly gives: string | undefined
}

/** The text of a table cell that is one inline code span, or undefined. */
const codeSpan = (cell: string): string | undefined => /^`(.*)`$/.exec(cell.trim())?.[1]

/** Rows of the tables whose header is `| Python | Actorflow | gives |`. */
export const tableLines = (markdown: string): Array<Line> => {
  const out: Array<Line> = []
  let inTable = false
  for (const row of markdown.split("\n")) {
    if (/^\|\s*Python\s*\|\s*Actorflow\s*\|\s*gives\s*\|$/.test(row.trim())) {
      inTable = true
      continue
    }
    if (!row.startsWith("|")) {
      inTable = false
      continue
    }
    if (!inTable || /^\|[-\s|]+\|$/.test(row.trim())) continue
    const cells = row.trim().slice(1, -1).split(" | ")
    if (cells.length !== 3) throw new Error(`a table row without 3 cells (is there a | in its code?): ${row}`)
    const python = cells[0]!.trim()
    const code = codeSpan(cells[1]!)
    if (code === undefined) throw new Error(`a row whose Actorflow cell is not one code span: ${row}`)
    out.push({ python, code, gives: codeSpan(cells[2]!) })
  }
  return out
}
