// One call in flight: what waits meanwhile goes together next, each batch gets its own
// outcomes, failures reach every batch of the failed call, and the call's span leads from
// every batch to the one call that carried it.
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { coalesced } from "./coalescedCalls.js"

/** A `send` that records each call's items, answers `item * 10` and holds the first call until `gate` opens. */
const recordingSend = Effect.gen(function*() {
  const calls = yield* Ref.make<Array<ReadonlyArray<number>>>([])
  const gate = yield* Deferred.make<void>()
  const spans = yield* Ref.make<Array<Tracer.AnySpan>>([])
  const send = (items: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const first = (yield* Ref.getAndUpdate(calls, (cs) => [...cs, items])).length === 0
      const span = yield* Effect.currentSpan.pipe(Effect.option)
      if (Option.isSome(span)) yield* Ref.update(spans, (ss) => [...ss, span.value])
      if (first) yield* Deferred.await(gate)
      if (items.includes(-1)) return yield* Effect.fail("refused" as const)
      return items.map((i) => i * 10)
    })
  return { calls, gate, spans, send }
})

/** Waits until `calls` holds `n` calls (the sender runs in its own fiber). */
const callsMade = (calls: Ref.Ref<Array<ReadonlyArray<number>>>, n: number) =>
  Ref.get(calls).pipe(Effect.repeat({ until: (cs) => cs.length >= n }), Effect.asVoid)

describe("coalesced calls", () => {
  it.scoped("batches handed in while a call is out go together in the next call, each answered with its own outcomes", () =>
    Effect.gen(function*() {
      const { calls, gate, send } = yield* recordingSend
      const call = yield* coalesced(send, { spanName: "test.call", maxItems: 100 })
      const a = yield* Effect.fork(call([1, 2]))
      yield* callsMade(calls, 1)
      // while the first call is out
      const b = yield* Effect.fork(call([3]))
      const c = yield* Effect.fork(call([4, 5, 6]))
      yield* Effect.yieldNow({ priority: 1 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(a)).toEqual([10, 20])
      expect(yield* Fiber.join(b)).toEqual([30])
      expect(yield* Fiber.join(c)).toEqual([40, 50, 60])
      expect(yield* Ref.get(calls)).toEqual([[1, 2], [3, 4, 5, 6]])
    }))

  it.scoped("a failed call fails every batch it carried; the next call goes out", () =>
    Effect.gen(function*() {
      const { calls, gate, send } = yield* recordingSend
      const call = yield* coalesced(send, { spanName: "test.call", maxItems: 100 })
      const first = yield* Effect.fork(call([1]))
      yield* callsMade(calls, 1)
      const good = yield* Effect.fork(call([2]))
      const bad = yield* Effect.fork(call([-1]))
      yield* Effect.yieldNow({ priority: 1 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(first)).toEqual([10])
      expect(yield* Fiber.await(good)).toEqual(Exit.fail("refused"))
      expect(yield* Fiber.await(bad)).toEqual(Exit.fail("refused"))
      expect(yield* call([3])).toEqual([30])
      expect(yield* Ref.get(calls)).toEqual([[1], [2, -1], [3]])
    }))

  it.scoped("merges only up to maxItems, in arrival order; a larger batch goes alone", () =>
    Effect.gen(function*() {
      const { calls, gate, send } = yield* recordingSend
      const call = yield* coalesced(send, { spanName: "test.call", maxItems: 4 })
      const first = yield* Effect.fork(call([0]))
      yield* callsMade(calls, 1)
      const waiting = yield* Effect.forEach(
        [[1, 2], [3, 4], [5], [6, 7, 8, 9, 10], [11]],
        (items) => Effect.fork(call(items)),
        { concurrency: 1 }
      )
      yield* Effect.yieldNow({ priority: 1 })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      for (const f of waiting) yield* Fiber.join(f)
      expect(yield* Ref.get(calls)).toEqual([[0], [1, 2, 3, 4], [5], [6, 7, 8, 9, 10], [11]])
    }))

  it.scoped("the call's span is a child of the first batch's span, links the others, and each batch's span names the call", () =>
    Effect.gen(function*() {
      const { calls, gate, send, spans } = yield* recordingSend
      const call = yield* coalesced(send, { spanName: "test.call", maxItems: 100 })
      const first = yield* Effect.fork(call([0]).pipe(Effect.withSpan("warm-up")))
      yield* callsMade(calls, 1)
      const batchSpans = yield* Deferred.make<ReadonlyArray<Tracer.Span>>()
      const inSpan = (name: string, items: ReadonlyArray<number>) =>
        Effect.flatMap(Effect.currentSpan, (span) => Effect.as(call(items), span)).pipe(Effect.withSpan(name))
      const both = yield* Effect.fork(
        Effect.all([inSpan("batch-a", [1]), inSpan("batch-b", [2])], { concurrency: "unbounded" }).pipe(
          Effect.tap((ss) => Deferred.succeed(batchSpans, ss))
        )
      )
      yield* Effect.yieldNow({ priority: 1 })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(both)
      const [a, b] = yield* Deferred.await(batchSpans)
      const second = (yield* Ref.get(spans))[1]!
      expect(second._tag).toBe("Span")
      const callSpan = second as Tracer.Span
      expect(callSpan.name).toBe("test.call")
      expect(Option.map(callSpan.parent, (p) => p.spanId)).toEqual(Option.some(a!.spanId))
      expect(callSpan.links.map((l) => l.span.spanId)).toEqual([b!.spanId])
      expect(callSpan.attributes.get("records")).toBe(2)
      expect(callSpan.attributes.get("batches")).toBe(2)
      const id = `${callSpan.traceId}-${callSpan.spanId}`
      expect(a!.attributes.get("test.call")).toBe(id)
      expect(b!.attributes.get("test.call")).toBe(id)
    }))
})

describe("coalesced calls, closing", () => {
  it.live("closing the scope answers every waiting batch, sent or not, with an interruption", () =>
    Effect.gen(function*() {
      const { calls, send } = yield* recordingSend // its first call never returns: the gate stays shut
      const outer = yield* Scope.make()
      const call = yield* coalesced(send, { spanName: "test.call", maxItems: 100 }).pipe(Scope.extend(outer))
      const sent = yield* Effect.fork(call([1]))
      yield* callsMade(calls, 1)
      const queued = yield* Effect.fork(call([2]))
      yield* Effect.yieldNow({ priority: 1 })
      yield* Scope.close(outer, Exit.void)
      expect(Exit.isInterrupted(yield* Fiber.await(sent))).toBe(true)
      expect(Exit.isInterrupted(yield* Fiber.await(queued))).toBe(true)
    }))
})
