/**
 * A user's import of Actorflow's internals, which are not part of the package's face: TypeScript must refuse it
 * (an unused @ts-expect-error fails the type-check, so this fails once the exports map lets internals through).
 */
// @ts-expect-error: not an entry point of the package
import type * as Host from "actorflow/internal/Host.js"
// @ts-expect-error: the checkout's path to the public face is not the package's
import type * as Face from "actorflow/src/runtime/index.ts"

export type Internals = [typeof Host, typeof Face]
