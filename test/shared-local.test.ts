// The shared-memory primitives on the main thread alone: handles, cells, and the Effect forms of Mutex and
// Barrier with several fibers of one thread. Cross-thread behaviour is in shared-threads.test.ts.
import { Cause, Effect, Exit, Fiber } from "effect"
import * as fc from "fast-check"
import { MessageChannel } from "node:worker_threads"
import { describe, expect, it } from "vitest"
import { AtomicCounter, Barrier, Mutex, SharedArray, SharedRef } from "../src/runtime/shared/index.ts"
import { ThreadSlots } from "../src/runtime/index.ts"

// Sends a value through a real MessagePort, i.e. through the structured clone that postMessage uses.
const roundTrip = <A>(value: A): Promise<A> =>
  new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel()
    port2.once("message", (received: A) => {
      port1.close()
      port2.close()
      resolve(received)
    })
    port1.postMessage(value)
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined

describe("SharedArray", () => {
  const kinds: ReadonlyArray<SharedArray.Kind> = ["Int8", "Uint8", "Int16", "Uint16", "Int32", "Uint32", "Float32", "Float64"]

  it("a handle posted to another port views the same memory, for any kind, length and offset", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...kinds), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 8 }), async (kind, length, skip) => {
        const bytes = SharedArray.bytesPerElement(kind)
        const buffer = new SharedArrayBuffer((length + skip) * bytes)
        const original = SharedArray.view(kind, buffer, skip * bytes, length)
        const handle = await roundTrip(SharedArray.handle(original))
        expect(handle).toMatchObject({ _tag: "SharedArray", kind, byteOffset: skip * bytes, length })
        const revived = SharedArray.fromHandle(handle)
        revived[length - 1] = 7
        expect(original[length - 1]).toBe(7)
      }),
      { numRuns: 50 }
    )
  })

  it("BigInt64 arrays too", () => {
    const a = SharedArray.make("BigInt64", 2)
    SharedArray.fromHandle(SharedArray.handle(a))[1] = 5n
    expect(a[1]).toBe(5n)
  })

  it("refuses arrays over a plain ArrayBuffer, which postMessage would copy", () => {
    expect(() => SharedArray.handle(new Float64Array(4))).toThrow(/not backed by a SharedArrayBuffer/)
  })
})

describe("AtomicCounter", () => {
  it("adds, reads, resets, and shares its cell through a handle", async () => {
    const counter = AtomicCounter.make({ initial: 5 })
    expect(counter.add(3)).toBe(5)
    const other = AtomicCounter.fromHandle(await roundTrip(counter.handle))
    other.add()
    expect(counter.get()).toBe(9)
    expect(counter.reset()).toBe(9)
    expect(other.get()).toBe(0)
  })
})

describe("SharedRef", () => {
  it("Int32 and Float64 cells follow a model under any sequence of updates", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<SharedRef.Kind>("Int32", "Float64"),
        fc.array(fc.oneof(
          fc.record({ op: fc.constant("set" as const), x: fc.integer({ min: -1000, max: 1000 }) }),
          fc.record({ op: fc.constant("add" as const), x: fc.integer({ min: -1000, max: 1000 }) }),
          fc.record({ op: fc.constant("half" as const), x: fc.constant(0) })
        )),
        (kind, ops) => {
          const ref = SharedRef.make(kind, 0)
          let model = 0
          const norm = (x: number) => kind === "Int32" ? x | 0 : x
          for (const { op, x } of ops) {
            if (op === "set") ref.set((model = x))
            else if (op === "add") expect(ref.update((v) => v + x)).toBe((model = norm(model + x)))
            else {
              expect(ref.modify((v) => [v, v / 2])).toBe(model)
              model = norm(model / 2)
            }
            expect(ref.get()).toBe(model)
          }
        }
      )
    )
  })

  it("Float64 keeps every bit: -0, NaN, 0.1 + 0.2", () => {
    const ref = SharedRef.make("Float64", -0)
    expect(Object.is(ref.get(), -0)).toBe(true)
    ref.set(NaN)
    expect(ref.update((x) => (Number.isNaN(x) ? 0.1 : x) + 0.2)).toBe(0.1 + 0.2)
  })

  it("has an Effect form", async () => {
    const ref = SharedRef.make("Int32", 1)
    const out = await Effect.runPromise(Effect.gen(function*() {
      yield* SharedRef.update(ref, (x) => x * 10)
      const old = yield* SharedRef.modify(ref, (x) => [x, x + 1])
      return [old, yield* SharedRef.get(SharedRef.fromHandle(ref.handle))]
    }))
    expect(out).toEqual([10, 11])
  })
})

describe("ThreadSlots", () => {
  it("the main thread is slot 0; allocated slots are alive until marked dead; markDead bumps the epoch", () => {
    const slots = ThreadSlots.current()
    expect(slots.self).toBe(ThreadSlots.mainSlot)
    const slot = ThreadSlots.allocate()
    expect(slot).toBeGreaterThan(0)
    expect(slots.isAlive(slot)).toBe(true)
    const epoch = slots.epoch()
    ThreadSlots.markDead(slot)
    ThreadSlots.markDead(slot)
    expect(slots.isDead(slot)).toBe(true)
    expect(slots.epoch()).toBe(epoch + 1)
    expect(() => ThreadSlots.markDead(0)).toThrow()
  })

  it("a dead slot is reused under a new id, and the old id stays dead (a small registry, so reuse comes at once)", () => {
    const slots = ThreadSlots.make({ capacity: 4 })
    const first = [ThreadSlots.allocate(slots), ThreadSlots.allocate(slots), ThreadSlots.allocate(slots)]
    expect(new Set(first.map((id) => id % 4))).toEqual(new Set([1, 2, 3]))
    expect(first.every((id) => slots.isAlive(id))).toBe(true)
    // Every slot alive: no room, and a typed error says so.
    expect(() => ThreadSlots.allocate(slots)).toThrow(ThreadSlots.ThreadSlotsExhausted)
    ThreadSlots.markDead(first[1]!, slots)
    const reused = ThreadSlots.allocate(slots)
    expect(reused % 4).toBe(first[1]! % 4)
    expect(reused).not.toBe(first[1])
    expect(slots.isAlive(reused)).toBe(true)
    expect(slots.isDead(first[1]!)).toBe(true)
    expect(slots.isAlive(first[1]!)).toBe(false)
    // Marking the old id dead again must not kill the slot's new thread.
    ThreadSlots.markDead(first[1]!, slots)
    expect(slots.isAlive(reused)).toBe(true)
    // Thousands of lives through one slot: ids never repeat while they stay below the packing limit.
    const seen = new Set<number>([reused])
    let id = reused
    for (let i = 0; i < 5000; i++) {
      ThreadSlots.markDead(id, slots)
      id = ThreadSlots.allocate(slots)
      expect(seen.has(id)).toBe(false)
      seen.add(id)
    }
    expect(Math.max(...seen)).toBeLessThan(2 ** 29)
  })

  it("a lock owned by a dead thread stays dead-owned after its slot is reused by a live thread", async () => {
    const previous = ThreadSlots.current()
    const slots = ThreadSlots.install(ThreadSlots.make({ capacity: 2 }))
    try {
      const m = Mutex.make({ name: "reused" })
      const owner = ThreadSlots.allocate()
      Atomics.store(m.word, 0, (owner + 1) << 1)
      ThreadSlots.markDead(owner)
      const successor = ThreadSlots.allocate()
      expect(successor % 2).toBe(owner % 2) // the same slot, alive again
      expect(slots.isAlive(successor)).toBe(true)
      const error = failureOf(await Effect.runPromiseExit(Mutex.withLock(m, Effect.void)))
      expect(error).toMatchObject({ _tag: "LockOwnerDied", lock: "reused", ownerSlot: owner })
    } finally {
      ThreadSlots.install(previous)
    }
  })
})

describe("Mutex on the main thread", () => {
  it("tryLock / unlock record the owner; unlocking a free lock is a defect", () => {
    const m = Mutex.make({ name: "m" })
    expect(m.owner()).toBeUndefined()
    expect(m.tryLock()).toBe(true)
    expect(m.owner()).toBe(0)
    expect(m.tryLock()).toBe(false)
    m.unlock()
    expect(() => m.unlock()).toThrow(/owner is nobody/)
  })

  it("the blocking methods refuse to run on the main thread", () => {
    const m = Mutex.make()
    m.tryLock()
    expect(() => m.lock()).toThrow(/main thread/)
    expect(() => m.lockTimeout(10)).toThrow(/main thread/)
    m.unlock()
  })

  it("withLock releases on success, on failure and on interruption", async () => {
    const m = Mutex.make({ name: "m" })
    expect(await Effect.runPromise(Mutex.withLock(m, Effect.sync(() => m.owner())))).toBe(0)
    expect(m.owner()).toBeUndefined()
    const failed = await Effect.runPromiseExit(Mutex.withLock(m, Effect.fail("boom")))
    expect(failureOf(failed)).toBe("boom")
    expect(m.owner()).toBeUndefined()
    const fiber = Effect.runFork(Effect.never.pipe(Mutex.withLock(m)))
    await new Promise((r) => setTimeout(r, 10))
    expect(m.owner()).toBe(0)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(m.owner()).toBeUndefined()
  })

  it("fibers of one thread take turns: the waiter sleeps in waitAsync until the holder releases", async () => {
    const m = Mutex.make({ name: "m" })
    const log: Array<string> = []
    const holder = (name: string) =>
      Mutex.withLock(m, Effect.gen(function*() {
        log.push(`${name} in`)
        yield* Effect.sleep(20)
        log.push(`${name} out`)
      }))
    await Effect.runPromise(Effect.all([holder("a"), holder("b"), holder("c")], { concurrency: "unbounded" }))
    // Not FIFO (a futex lock is not fair), but never two inside at once: each "in" is followed by its own "out".
    expect(log.length).toBe(6)
    for (let i = 0; i < 6; i += 2) expect(log[i + 1]).toBe(log[i]!.replace("in", "out"))
    expect(new Set(log).size).toBe(6)
  })

  it("a fiber re-entering its own lock dies at once instead of waiting on itself", async () => {
    const m = Mutex.make({ name: "m" })
    const exit = await Effect.runPromiseExit(Mutex.withLock(m, Mutex.withLock(m, Effect.void)))
    expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
    expect(String(failureOf(exit))).toMatch(/not reentrant/)
    expect(m.owner()).toBeUndefined()
  })

  it("a timed acquire fails with LockTimeout, typed", async () => {
    const m = Mutex.make({ name: "busy" })
    m.tryLock()
    const t0 = performance.now()
    const exit = await Effect.runPromiseExit(Mutex.withLock(m, Effect.void, { timeout: "50 millis" }))
    const elapsed = performance.now() - t0
    const error = failureOf(exit)
    expect(error).toBeInstanceOf(Mutex.LockTimeout)
    expect(error).toMatchObject({ _tag: "LockTimeout", lock: "busy", timeoutMillis: 50 })
    expect(elapsed).toBeGreaterThanOrEqual(49)
    expect(elapsed).toBeLessThan(5_000) // generous: rules out a hang, not a slow machine
    m.unlock()
  })

  it("interrupting a waiter neither takes the lock nor loses the wake-up of the next waiter", async () => {
    const m = Mutex.make({ name: "m" })
    m.tryLock()
    const first = Effect.runFork(Mutex.withLock(m, Effect.void))
    const second = Effect.runFork(Mutex.withLock(m, Effect.succeed("second")))
    await new Promise((r) => setTimeout(r, 5))
    await Effect.runPromise(Fiber.interrupt(first))
    m.unlock()
    expect(await Effect.runPromise(Fiber.join(second))).toBe("second")
    expect(m.owner()).toBeUndefined()
  })

  it("a lock whose owner slot is marked dead fails its waiters with LockOwnerDied; recover() takes it over", async () => {
    const m = Mutex.make({ name: "orphan" })
    const slot = ThreadSlots.allocate()
    // Plays the dead thread: the lock word as that slot's lock() would have left it.
    Atomics.store(m.word, 0, (slot + 1) << 1)
    const waiter = Effect.runPromiseExit(Mutex.withLock(m, Effect.void))
    await new Promise((r) => setTimeout(r, 30))
    const t0 = performance.now()
    ThreadSlots.markDead(slot)
    const error = failureOf(await waiter)
    expect(performance.now() - t0).toBeLessThan(5_000) // generous: noticed within wait slices, not never
    expect(error).toBeInstanceOf(Mutex.LockOwnerDied)
    expect(error).toMatchObject({ _tag: "LockOwnerDied", lock: "orphan", ownerSlot: slot })
    expect(m.owner()).toBe(slot) // not stolen
    expect(m.recover()).toBe(true)
    expect(m.owner()).toBe(0)
    m.unlock()
    expect(await Effect.runPromise(Mutex.withLock(m, Effect.succeed(1)))).toBe(1)
  })

  it("a handle revived under another registry is refused", () => {
    const handle = { ...Mutex.make().handle, registry: ThreadSlots.current().id + 1 }
    expect(() => Mutex.fromHandle(handle)).toThrow(/another ThreadSlots registry/)
  })
})

describe("Barrier on the main thread", () => {
  it("fibers pass generations in lockstep", async () => {
    const parties = 3
    const b = Barrier.make(parties, { name: "steps" })
    const seen: Array<Array<number>> = []
    const cells = new Array<number>(parties).fill(0)
    const party = (i: number) =>
      Effect.gen(function*() {
        for (let step = 1; step <= 20; step++) {
          cells[i] = step
          yield* Effect.sleep(i) // arrive in different orders
          yield* Barrier.wait(b)
          seen.push([...cells])
          yield* Barrier.wait(b)
        }
      })
    await Effect.runPromise(Effect.all([party(0), party(1), party(2)], { concurrency: "unbounded" }))
    expect(seen.length).toBe(60)
    seen.forEach((cellsSeen, n) => expect(cellsSeen).toEqual(new Array(parties).fill(Math.floor(n / parties) + 1)))
  })

  it("a party that times out gets BarrierTimeout; the barrier is then broken for everyone", async () => {
    const b = Barrier.make(2, { name: "late" })
    const timedOut = failureOf(await Effect.runPromiseExit(Barrier.wait(b, { timeout: 30 })))
    expect(timedOut).toBeInstanceOf(Barrier.BarrierTimeout)
    expect(timedOut).toMatchObject({ barrier: "late", timeoutMillis: 30 })
    const broken = failureOf(await Effect.runPromiseExit(Barrier.wait(b)))
    expect(broken).toBeInstanceOf(Barrier.BarrierBroken)
    expect(broken).toMatchObject({ barrier: "late", reason: "party-timed-out", slot: 0 })
  })

  it("interrupting a waiting party breaks the barrier, since its arrival cannot be taken back", async () => {
    const b = Barrier.make(3)
    const first = Effect.runFork(Barrier.wait(b))
    const second = Effect.runFork(Barrier.wait(b))
    await new Promise((r) => setTimeout(r, 10))
    await Effect.runPromise(Fiber.interrupt(first))
    const exit = await Effect.runPromise(Fiber.await(second))
    expect(failureOf(exit)).toMatchObject({ _tag: "BarrierBroken", reason: "party-interrupted" })
  })

  it("the blocking wait refuses to run on the main thread", () => {
    expect(() => Barrier.make(2).wait()).toThrow(/main thread/)
  })
})
