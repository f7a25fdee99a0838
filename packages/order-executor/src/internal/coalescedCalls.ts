// One registry call in flight per executor: batches that arrive while a call is out wait
// and go together in the next one (ADR 0088).
//
// Why: the executor handles its partitions concurrently, and each partition's batch used
// to make its own RecordOrders call. Every call costs the raft leader the same work whatever
// its size (a gRPC call, a proposal, an fsync on every replica, a round trip), so at low and
// moderate rates the calls, not the orders, were the cluster's load, and a batch waited for
// the machine's CPU behind the other partitions' calls. Merged calls keep the per-order work
// and drop the per-call part; a batch never waits for a timer, only for the call before it.
//
// Tracing: the call runs in a span of its own (`options.spanName`, `registry.call` in the
// executor) whose parent is the first waiting batch's span (so that batch's trace continues
// on the raft-node over gRPC metadata, as an unmerged call's did) and which links every
// other batch's span; each batch's span gets an attribute of the same name holding
// `<trace id>-<span id>` of the call that carried it, so any batch's trace leads to the
// raft-node's side of its call.
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"

interface Waiting<I, O, E> {
  readonly items: ReadonlyArray<I>
  readonly done: Deferred.Deferred<ReadonlyArray<O>, E>
  readonly span: Option.Option<Tracer.AnySpan>
}

export interface CoalesceOptions {
  /** The span each call runs in, and the attribute that names it on every batch's span. */
  readonly spanName: string
  /** Batches are merged while the merged call stays within this many items (a larger batch goes alone). */
  readonly maxItems: number
}

/**
 * Wraps `send` (one outcome per item, in order) so that at most one call is in flight: the
 * batches handed in meanwhile are sent together next, each answered with its own slice of
 * the outcomes. A failed call fails every batch it carried. Needs a scope for its sender.
 */
export const coalesced = <I, O, E>(
  send: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>,
  options: CoalesceOptions
): Effect.Effect<(items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(
      Queue.unbounded<Waiting<I, O, E>>(),
      (q) => Queue.shutdown(q)
    )
    // batches taken from the queue that did not fit in the last call, oldest first
    const backlog: Array<Waiting<I, O, E>> = []
    // the batches of the call being sent
    let inFlight: ReadonlyArray<Waiting<I, O, E>> = []
    let closed = false
    // Registered before the sender is forked, so it runs once the sender has been interrupted
    // (scope closing): every batch still waiting, sent or not, is answered with an
    // interruption instead of waiting forever.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        const left = [...inFlight, ...backlog, ...(yield* Queue.takeAll(queue))]
        inFlight = []
        backlog.length = 0
        for (const w of left) yield* Deferred.interrupt(w.done)
      })
    )

    const nextCall = Effect.gen(function*() {
      if (backlog.length === 0) backlog.push(yield* Queue.take(queue))
      for (const w of yield* Queue.takeAll(queue)) backlog.push(w)
      let take = 1
      let size = backlog[0]!.items.length
      while (take < backlog.length && size + backlog[take]!.items.length <= options.maxItems) {
        size += backlog[take]!.items.length
        take++
      }
      inFlight = backlog.splice(0, take)
      return inFlight
    })

    // The steps of a call and of a batch's wait are generator functions made once and given
    // their values: one made anew per call would keep the call's items through scavenges
    // until a full collection (ADR 0093).
    function* sendSteps(call: ReadonlyArray<Waiting<I, O, E>>, items: ReadonlyArray<I>) {
      const span = yield* Effect.option(Effect.currentSpan)
      if (Option.isSome(span)) {
        const id = `${span.value.traceId}-${span.value.spanId}`
        for (const w of call) {
          if (Option.isSome(w.span) && w.span.value._tag === "Span") w.span.value.attribute(options.spanName, id)
        }
      }
      return yield* Effect.exit(send(items))
    }

    const run = (call: ReadonlyArray<Waiting<I, O, E>>) => {
      const items = call.length === 1 ? call[0]!.items : call.flatMap((w) => w.items)
      const links: Array<Tracer.SpanLink> = []
      for (const w of call.slice(1)) {
        if (Option.isSome(w.span)) links.push({ _tag: "SpanLink", span: w.span.value, attributes: {} })
      }
      const sent = Effect.gen(() => sendSteps(call, items)).pipe(
        Effect.withSpan(options.spanName, {
          kind: "client",
          links,
          attributes: { records: items.length, batches: call.length },
          captureStackTrace: false,
          ...(Option.isSome(call[0]!.span) ? { parent: call[0]!.span.value } : {})
        })
      )
      // answered once the call's span has ended, so that it ends inside the first batch's
      // span and prints with that batch's trace
      return Effect.map(sent, (exit) => {
        inFlight = []
        let at = 0
        for (const w of call) {
          const n = w.items.length
          Deferred.unsafeDone(w.done, Exit.map(exit, (outcomes) => outcomes.slice(at, at + n)))
          at += n
        }
      })
    }

    // the merged batches' callers may have gone (a revoked batch is interrupted): their
    // outcomes are simply not read; recording twice is harmless (first writer wins)
    yield* nextCall.pipe(Effect.flatMap(run), Effect.forever, Effect.forkScoped)

    function* waitSteps(items: ReadonlyArray<I>) {
      // closing: nothing would send it
      if (closed) return yield* Effect.interrupt
      const done = yield* Deferred.make<ReadonlyArray<O>, E>()
      const span = yield* Effect.option(Effect.currentSpan)
      yield* Queue.offer(queue, { items, done, span })
      return yield* Deferred.await(done)
    }
    return (items: ReadonlyArray<I>) => Effect.gen(() => waitSteps(items))
  })
