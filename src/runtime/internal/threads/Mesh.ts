/**
 * The worker mesh: every pair of live workers shares a direct `MessageChannel`, so actors on different workers
 * talk to each other without going through the main thread.
 *
 * A worker that (re)starts is joined to every other live one; when a worker dies, the others hear of it
 * (`PeerDied`) and fail the asks they had sent there.
 */
import { MessageChannel } from "node:worker_threads"
import type { Worker } from "node:worker_threads"
import type { Control } from "../Wire.ts"

export interface Member {
  readonly index: number
  readonly worker: Worker | undefined
}

const post = (member: Member, control: Control, transfer?: ReadonlyArray<unknown>) =>
  member.worker?.postMessage(control, transfer as never)

/** Give workers `a` and `b` a channel to each other. */
const link = (a: Member, b: Member): void => {
  const { port1, port2 } = new MessageChannel()
  post(a, { _tag: "Connect", worker: b.index, port: port1 }, [port1])
  post(b, { _tag: "Connect", worker: a.index, port: port2 }, [port2])
}

/** Join `member` (just started) to every other live member. */
export const join = (member: Member, members: ReadonlyArray<Member>): void => {
  for (const other of members) {
    if (other !== member && other.worker !== undefined) link(member, other)
  }
}

/** Tell every other live member that `member` died. */
export const leave = (member: Member, members: ReadonlyArray<Member>, reason: string): void => {
  for (const other of members) {
    if (other !== member) post(other, { _tag: "PeerDied", worker: member.index, reason })
  }
}
