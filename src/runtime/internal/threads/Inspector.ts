/**
 * Worker threads under the inspector (the tier's `inspect` option): each worker opens its own inspector on a
 * loopback address as it boots, before any actor starts, and says where (`[stderr:w0] inspector: ws://…`), so
 * Chrome DevTools (`chrome://inspect`, Configure → `127.0.0.1:PORT`) or VS Code can attach to that thread, set
 * breakpoints in the original `.ts` files (the bundles carry source maps) and profile it.
 *
 * Worker `i` listens on `port + i` (port 0: a free port each, printed). A restarted worker listens again on its
 * port. With `wait`, a worker waits for a debugger to attach before it loads anything (a booting worker is never
 * judged stuck, so it may wait as long as it takes). Only loopback addresses are accepted: the inspector runs any
 * code it is sent and cannot authenticate, so reach it from another machine through an ssh tunnel.
 */
import * as Inspector from "node:inspector"

/** Where and how workers open their inspector. @inline */
export interface Options {
  /** Loopback address to listen on (default 127.0.0.1). */
  readonly host?: string
  /** Port of worker 0; worker i listens on `port + i` (default 9230; 0: any free port, printed). */
  readonly port?: number
  /** Hold each worker at its start until a debugger attaches (default false). */
  readonly wait?: boolean
}

/** What one worker is told (its own port). */
export interface Settings {
  readonly host: string
  readonly port: number
  readonly wait: boolean
}

/** The first worker's port when none is given: the one after Node's own default (9229, the main thread's). */
export const DEFAULT_PORT = 9230

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/** The settings for the tier's `inspect` option, or why they are refused (one line). */
export const settings = (option: boolean | Options | undefined, workers: number): Settings | string | undefined => {
  if (option === undefined || option === false) return undefined
  const { host = "127.0.0.1", port = DEFAULT_PORT, wait = false } = option === true ? {} : option
  if (!isLoopback(host)) {
    return `inspect.host must be a loopback address, got ${host}: the inspector runs any code it is sent and cannot authenticate (reach it from elsewhere through an ssh tunnel)`
  }
  if (!Number.isInteger(port) || port < 0 || (port > 0 && port + workers - 1 > 65535)) {
    return `inspect.port must be 0 or a port with room for ${workers} worker(s) above it, got ${port}`
  }
  return { host, port, wait }
}

/** The settings of worker `index`. */
export const forWorker = (settings: Settings, index: number): Settings =>
  settings.port === 0 ? settings : { ...settings, port: settings.port + index }

/**
 * On the worker, as it boots: open the inspector and write where it listens (or why it could not) to the
 * worker's stderr; then, with `wait`, block until a debugger attaches.
 */
export const open = (settings: Settings): void => {
  Inspector.open(settings.port, settings.host, false)
  const url = Inspector.url()
  if (url === undefined) {
    // Node printed its reason (e.g. the address is in use) on the process's stderr; the worker runs on.
    console.error(`inspector: could not listen on ${settings.host}:${settings.port}; this worker runs without it`)
    return
  }
  const port = new URL(url).port
  console.error(`inspector: ${url} (Chrome: chrome://inspect, Configure, add ${settings.host}:${port})`)
  if (settings.wait) {
    console.error(`inspector: waiting for a debugger to attach before this worker starts`)
    Inspector.waitForDebugger()
  }
}
