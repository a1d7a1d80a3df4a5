/**
 * Saving a picture a program drew: one file, a typed error naming it when it cannot be written, and a line on
 * stderr saying where it went (not with `--json`, whose output is the rows alone).
 */
import { Effect, Schema } from "effect"
import * as Fs from "node:fs"
import { ActorError } from "../../runtime/index.ts"

/** The picture could not be written; `message` says which file and why. */
export class CannotWrite extends Schema.TaggedError<CannotWrite>()("CannotWrite", {
  file: Schema.String,
  message: Schema.String
}) {}

export const write = (file: string, svg: string, options: { readonly quiet: boolean }): Effect.Effect<void, CannotWrite> =>
  Effect.try({
    try: () => Fs.writeFileSync(file, svg),
    catch: (error) => new CannotWrite({ file, message: `cannot write ${file}: ${ActorError.describe(error)}` })
  }).pipe(Effect.andThen(options.quiet ? Effect.void : Effect.sync(() => process.stderr.write(`wrote ${file}\n`))))
