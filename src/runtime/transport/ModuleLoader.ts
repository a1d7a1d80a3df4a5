/**
 * Loads user modules inside a thread from the bundles the main thread built
 * (see WorkerBundle), once each: actors, tasks and kernels are then found in
 * their registries by module URL and name.
 */
import { pathToFileURL } from "node:url"

const loaded = new Map<string, Promise<unknown>>()

/** Import `bundle` (a file path) once; "" means the module is part of the base bundle already. */
export const load = (bundle: string): Promise<unknown> => {
  if (bundle === "") return Promise.resolve(undefined)
  let module = loaded.get(bundle)
  if (module === undefined) {
    module = import(pathToFileURL(bundle).href)
    module.catch(() => loaded.delete(bundle))
    loaded.set(bundle, module)
  }
  return module
}
