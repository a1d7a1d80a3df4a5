/**
 * Versions that processes of one cluster compare before they work together: the runtime's code version (a
 * digest of its modules), written into the connection file by the launcher and checked by every runner and
 * client, and a digest per user module, sent with each spawn and checked by the runner that hosts the actor.
 * Code travels by its path in the project (`Layout.portableModule`), so a runner on another machine needs the same
 * checkout, wherever it sits: these digests turn a different checkout into one clear line instead of a subtly
 * different computation.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Layout from "../Layout.ts"

const sourcesOf = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = Path.join(dir, entry.name)
    return entry.isDirectory()
      ? sourcesOf(full)
      : entry.name.endsWith(Layout.extension) && !entry.name.endsWith(".d.ts")
      ? [full]
      : []
  }).sort()

let code: string | undefined

/** A digest of every runtime module's path and contents (its sources here, its compiled files when installed). */
export const codeVersion = (): string => {
  if (code !== undefined) return code
  const hash = Crypto.createHash("sha1")
  const runtimeDir = Layout.runtimeDir
  if (runtimeDir === undefined) hash.update(Fs.readFileSync(Layout.file!))
  else {
    for (const file of sourcesOf(runtimeDir)) {
      hash.update(Path.relative(runtimeDir, file)).update("\0").update(Fs.readFileSync(file)).update("\0")
    }
  }
  return (code = hash.digest("hex").slice(0, 16))
}

const modules = new Map<string, string>()

/** A digest of a module's source ("missing" when this process cannot read it). */
export const moduleDigest = (moduleUrl: string): string => {
  let digest = modules.get(moduleUrl)
  if (digest === undefined) {
    try {
      const file = moduleUrl.startsWith("file:") ? fileURLToPath(moduleUrl) : moduleUrl
      digest = Crypto.createHash("sha1").update(Fs.readFileSync(file)).digest("hex").slice(0, 16)
    } catch {
      digest = "missing"
    }
    modules.set(moduleUrl, digest)
  }
  return digest
}

/**
 * Why a module cannot be used here as `digest` describes it (its spawner's or client's copy), in one line; or
 * undefined when this process's copy is the same. `here` names this process (e.g. "runner 1").
 */
export const moduleDiffers = (moduleUrl: string, digest: string, here: string): string | undefined => {
  const own = moduleDigest(moduleUrl)
  return own === digest ? undefined : `${moduleUrl} differs between the spawner (${digest}) and ${here} (${own}): run the same checkout everywhere`
}
