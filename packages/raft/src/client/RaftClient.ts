/**
 * The client of the replicated order registry (raft-node's RaftNodeService), used by the
 * order-executor.
 *
 * - Leader discovery: starts from any seed address, asks `Leader`, then talks to the leader
 *   directly. A node that is not (or no longer) the leader answers UNAVAILABLE with the
 *   leader's gRPC address in the `leader-grpc-addr` trailer; the client follows it.
 * - Safe retries: recording is keyed by order id and first writer wins, so resending the
 *   same record after an ambiguous failure (deadline, dropped connection, leader change)
 *   can never record it twice; the retry gets the canonical outcome. Only failures that
 *   cannot succeed on retry (INVALID_ARGUMENT, PERMISSION_DENIED, ...) stop early.
 * - Deadlines: every operation has an overall deadline (default 10 s); each attempt gets
 *   at most the time that is left.
 * - Channels: one grpc-js channel per address, created under a lock, shared by concurrent
 *   calls and closed only when the client's scope closes, so no fiber ever sends on a
 *   channel another fiber is closing.
 * - Batches travel on one RecordOrdersStream per address (ADR 0091): each call is a message
 *   with a call id, answered on the same stream, so a call costs no HTTP/2 stream, headers
 *   or trailers of its own. The stream's failure or end fails the calls it carried as
 *   UNAVAILABLE (retried like any other ambiguous failure) and the next call opens a new
 *   one. A node that does not serve the stream (UNIMPLEMENTED) gets unary RecordOrders.
 */
import * as grpc from "@grpc/grpc-js"
import { OrderRecord, RecordStreamBytes, RegistryBytes } from "@trading/domain"
import * as GrpcClient from "@trading/platform/GrpcClient"
import * as InFlight from "@trading/platform/InFlight"
import type { TlsPaths } from "@trading/platform/ServerConfig"
import * as Traceparent from "@trading/platform/Traceparent"
import { RaftNodeRawService } from "@trading/proto/RaftNodeRawService"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"

export interface RaftClientOptions {
  /** gRPC addresses (`host:port`) of any cluster members; one reachable member is enough. */
  readonly seeds: ReadonlyArray<string>
  /** Overall deadline of one operation, retries included (default 10 s). */
  readonly deadline?: Duration.DurationInput | undefined
  /** Longest single attempt (default 3 s). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** TLS files; default: GRPC_TLS_* from the process's ServerConfig when present. */
  readonly tls?: TlsPaths | "insecure" | undefined
}

/** The registry could not be reached or did not answer in time; `lastError` says why. */
export class RaftUnavailable extends Data.TaggedError("RaftUnavailable")<{
  readonly op: string
  readonly attempts: number
  readonly lastError: string
}> {
  override get message(): string {
    return `${this.op} failed after ${this.attempts} attempts: ${this.lastError}`
  }
}

/** The request itself was refused (retrying cannot help): bad record, wrong secret, ... */
export class RaftRejected extends Data.TaggedError("RaftRejected")<{
  readonly op: string
  readonly code: grpc.status
  readonly details: string
}> {
  override get message(): string {
    return `${this.op} rejected with ${grpc.status[this.code]}: ${this.details}`
  }
}

export type RaftClientError = RaftUnavailable | RaftRejected

export interface LeaderInfo {
  readonly leaderId: string
  readonly grpcAddr: string
  readonly term: number
}

export interface RaftClient {
  /** Records one order; the answer is the canonical outcome (the first record stored for the id). */
  readonly record: (record: OrderRecord.OrderRecord) => Effect.Effect<OrderRecord.RecordOutcome, RaftClientError>
  /**
   * Records a batch in one call (one log entry) per `maxRecordsPerCall` records; one outcome
   * per record, in order.
   */
  readonly recordBatch: (
    records: ReadonlyArray<OrderRecord.OrderRecord>
  ) => Effect.Effect<ReadonlyArray<OrderRecord.RecordOutcome>, RaftClientError>
  /** Linearizable lookup: the canonical record and its log index, if recorded (and retained). */
  readonly read: (
    orderId: string
  ) => Effect.Effect<
    Option.Option<{ readonly record: OrderRecord.OrderRecord; readonly index: number }>,
    RaftClientError
  >
  readonly leader: Effect.Effect<LeaderInfo, RaftClientError>
  /** The address the client currently sends to (undefined before discovery). */
  readonly currentTarget: Effect.Effect<string | undefined>
}

const retryable = new Set<grpc.status>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED, // ambiguous: may have committed; the retry returns the canonical outcome
  grpc.status.ABORTED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNKNOWN // e.g. a connection reset mid-call
])

const channelOptions: grpc.ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 50,
  "grpc.min_reconnect_backoff_ms": 50,
  "grpc.max_reconnect_backoff_ms": 500
}

// RecordOrders and its stream as bytes: requests written and responses read directly
// (`RegistryBytes`, `RecordStreamBytes`) instead of ts-proto objects for hundreds of records
type Client = GrpcClient.Client<typeof RaftNodeRawService>

const streamMethod = RaftNodeRawService.recordOrdersStream.path

/** One RecordOrdersStream and the calls waiting for an answer on it, by call id. */
interface Session {
  readonly call: GrpcClient.DuplexCall<Uint8Array>
  readonly waiting: InFlight.InFlight<number, (answer: Exit.Exit<Uint8Array, GrpcClient.GrpcCallError>) => void>
  closed: boolean
}

const streamError = (code: grpc.status, details: string, metadata: Readonly<Record<string, string>> = {}) =>
  new GrpcClient.GrpcCallError({ method: streamMethod, code, details, metadata })

/** The most records a raft-node accepts in one RecordOrders call; larger batches are split. */
export const maxRecordsPerCall = 4096

export const make = (options: RaftClientOptions): Effect.Effect<RaftClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.seeds.length === 0) return yield* Effect.dieMessage("RaftClient needs at least one seed address")
    const scope = yield* Effect.scope
    const deadline = Duration.decode(options.deadline ?? "10 seconds")
    const attemptTimeout = Duration.decode(options.attemptTimeout ?? "3 seconds")
    const clients = new Map<string, Client>()
    const lock = yield* Effect.makeSemaphore(1)
    /** Where calls go: the leader as last known (undefined: discover it first). */
    let target: string | undefined
    let nextSeed = 0
    const sessions = new Map<string, Session>()
    /** Addresses that answered the stream with UNIMPLEMENTED: unary RecordOrders there. */
    const unaryOnly = new Set<string>()
    let lastCallId = 0

    const clientFor = (address: string) => {
      const known = clients.get(address)
      // the lock only for a new channel: created once, never replaced
      return known !== undefined ? Effect.succeed(known) : lock.withPermits(1)(Effect.gen(function*() {
        const known = clients.get(address)
        if (known !== undefined) return known
        const client = yield* GrpcClient.make(RaftNodeRawService, {
          address,
          tls: options.tls,
          channelOptions
        }).pipe(Scope.extend(scope))
        clients.set(address, client)
        return client
      }))
    }

    /**
     * The stream ended or failed: its waiting calls fail with `error` (retryably, unless the
     * client is closing) and the next call opens a new stream.
     */
    const closeSession = (address: string, session: Session, error: GrpcClient.GrpcCallError) => {
      if (session.closed) return
      session.closed = true
      if (sessions.get(address) === session) sessions.delete(address)
      const failed = Exit.fail(error)
      for (const resume of session.waiting.takeAll()) resume(failed)
      session.call.cancel()
    }

    /** Routes one answer to its call; anything but an envelope ends the stream. */
    const deliver = (address: string, session: Session, envelope: Uint8Array) => {
      const answer = RecordStreamBytes.decodeAnswer(envelope)
      if (Either.isLeft(answer)) {
        return closeSession(address, session, streamError(grpc.status.INTERNAL, answer.left.message))
      }
      const resume = session.waiting.take(answer.right.callId)
      // an answer nobody waits for: its call timed out or was interrupted
      if (resume === undefined) return
      const a = answer.right
      resume(
        a._tag === "Response"
          ? Exit.succeed(a.response)
          : Exit.fail(streamError(a.status.code, a.status.details, a.status.metadata))
      )
    }

    const endedWith = (address: string, exit: Exit.Exit<void, GrpcClient.GrpcCallError>) => {
      if (Exit.isSuccess(exit)) return streamError(grpc.status.UNAVAILABLE, "the server ended the stream")
      const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
      if (failure?.code === grpc.status.UNIMPLEMENTED) {
        unaryOnly.add(address)
        return streamError(grpc.status.UNAVAILABLE, "RecordOrdersStream is not served there; retrying unary")
      }
      return failure ?? streamError(grpc.status.CANCELLED, "the client is closing")
    }

    /** The address's stream, opened under the lock on first use (and after it ended). */
    const openSession = (address: string, client: Client) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const known = sessions.get(address)
        if (known !== undefined) return known
        const sessionScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        // the session exists only once the call does; answers cannot arrive before it is set
        const opening: { session?: Session } = {}
        const call = yield* client.recordOrdersStream(
          (envelope) => deliver(address, opening.session!, envelope),
          { deadline: Duration.infinity }
        ).pipe(Scope.extend(sessionScope))
        const opened: Session = { call, waiting: InFlight.make(), closed: false }
        opening.session = opened
        sessions.set(address, opened)
        yield* call.done.pipe(
          Effect.exit,
          Effect.flatMap((exit) => Effect.sync(() => closeSession(address, opened, endedWith(address, exit)))),
          Effect.ensuring(Scope.close(sessionScope, Exit.void)),
          Effect.forkIn(scope)
        )
        return opened
      }))

    const sessionFor = (address: string, client: Client) =>
      Effect.suspend(() => {
        const known = sessions.get(address)
        return known !== undefined ? Effect.succeed(known) : openSession(address, client)
      })

    // The per-call steps below are generator functions made once per client, each call's
    // values passed as arguments: with a generator function made anew for every call,
    // everything the call held (its records, its request) outlived the scavenges until a
    // full collection (measured, ADR 0093).

    /**
     * Writes one RecordOrders call on `session`'s stream; `answer` gets its response or
     * failure once, a DEADLINE_EXCEEDED after `timeoutMs`. Answers the call's canceller.
     */
    const sendOnStream = (
      session: Session,
      request: Uint8Array,
      traceparent: string,
      timeoutMs: number,
      answer: (exit: Exit.Exit<Uint8Array, GrpcClient.GrpcCallError>) => void
    ): () => void => {
      // closed (its call cancelled), or ended a moment ago and not yet seen by its watcher
      if (!session.call.isOpen()) {
        answer(Exit.fail(streamError(grpc.status.UNAVAILABLE, "the stream closed")))
        return () => {}
      }
      // unique among the calls in flight (wraps at 2^32)
      const callId = lastCallId = (lastCallId + 1) >>> 0
      // the attempt's deadline on the wall clock, as a unary call's grpc-js deadline is
      // (a timer here rather than Effect.timeout, which races two fibers per call)
      const timer = setTimeout(() => {
        session.waiting.take(callId)
        answer(Exit.fail(streamError(grpc.status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`)))
      }, timeoutMs)
      session.waiting.set(callId, (exit) => {
        clearTimeout(timer)
        answer(exit)
      })
      session.call.write(RecordStreamBytes.encodeRequest(callId, request, traceparent))
      return () => {
        clearTimeout(timer)
        session.waiting.take(callId)
      }
    }

    /** One RecordOrders call as a message of the address's stream. */
    function* streamedSteps(client: Client, address: string, request: Uint8Array, timeoutMs: number) {
      const session = yield* sessionFor(address, client)
      const traceparent = Option.getOrElse(yield* Traceparent.current, () => "")
      return yield* Effect.async<Uint8Array, GrpcClient.GrpcCallError>((resume) => {
        const cancel = sendOnStream(session, request, traceparent, timeoutMs, resume)
        return Effect.sync(cancel)
      })
    }
    const streamed = (client: Client, address: string, request: Uint8Array, timeoutMs: number) =>
      Effect.gen(() => streamedSteps(client, address, request, timeoutMs))

    /** Where to send: the known leader, else whatever a seed says leads, else the seed itself (it forwards). */
    function* resolveTargetSteps(leftMs: number) {
      if (target !== undefined) return target
      const seed = options.seeds[nextSeed++ % options.seeds.length]!
      const found = yield* Effect.either(
        Effect.flatMap(clientFor(seed), (c) => c.leader({}, { deadline: Math.min(1000, leftMs) }))
      )
      const address = Either.isRight(found) && found.right.leaderGrpcAddr !== "" ? found.right.leaderGrpcAddr : seed
      target = address
      return address
    }
    const resolveTarget = (leftMs: number) => Effect.gen(() => resolveTargetSteps(leftMs))

    /** An attempt that failed before the retry loop took over (the fast path's, see `recordChunk`). */
    interface FirstAttempt {
      readonly address: string
      readonly error: GrpcClient.GrpcCallError
      /** Wall-clock time it took, out of the operation's deadline. */
      readonly elapsedMs: number
    }

    /**
     * After attempt number `attempts` at `address` failed with `e`: the error that ends the
     * operation, or undefined to try again (the target redirected or forgotten, after a
     * jittered backoff when there is nobody to redirect to).
     */
    function* afterFailure(op: string, e: GrpcClient.GrpcCallError, address: string, attempts: number, end: number) {
      if (!retryable.has(e.code)) return new RaftRejected({ op, code: e.code, details: e.details })
      const hint = e.metadata["leader-grpc-addr"]
      const redirected = hint !== undefined && hint !== "" && hint !== address
      target = redirected ? hint : undefined
      if (!redirected) {
        // nobody to redirect to (election in progress, node down): back off, jittered
        // capped low: during a failover the new leader appears within an election timeout
        const base = Math.min(200, 10 * 2 ** Math.min(attempts, 5))
        const pause = base / 2 + (yield* Random.nextIntBetween(0, base / 2 + 1))
        yield* Effect.sleep(Math.max(0, Math.min(pause, end - (yield* Clock.currentTimeMillis))))
      }
      return undefined
    }

    const describeError = (address: string, e: GrpcClient.GrpcCallError) =>
      `${address}: ${grpc.status[e.code] ?? e.code}: ${e.details}`

    function* runSteps<A>(
      op: string,
      attempt: (client: Client, timeoutMs: number, address: string) => Effect.Effect<A, GrpcClient.GrpcCallError>,
      first: FirstAttempt | undefined
    ) {
      const end = (yield* Clock.currentTimeMillis) + Duration.toMillis(deadline) - (first?.elapsedMs ?? 0)
      let attempts = 0
      let lastError = "deadline too short for any attempt"
      if (first !== undefined) {
        attempts = 1
        lastError = describeError(first.address, first.error)
        const stop = yield* afterFailure(op, first.error, first.address, attempts, end)
        if (stop !== undefined) return yield* stop
      }
      for (;;) {
        const left = end - (yield* Clock.currentTimeMillis)
        if (left <= 0) return yield* new RaftUnavailable({ op, attempts, lastError })
        attempts++
        const address = yield* resolveTarget(left)
        const result = yield* Effect.either(
          Effect.flatMap(
            clientFor(address),
            (client) => attempt(client, Math.min(Duration.toMillis(attemptTimeout), left), address)
          )
        )
        if (Either.isRight(result)) return result.right
        const e = result.left
        if (e._tag === "GrpcClientError") {
          return yield* new RaftRejected({ op, code: grpc.status.FAILED_PRECONDITION, details: e.message })
        }
        lastError = describeError(address, e)
        const stop = yield* afterFailure(op, e, address, attempts, end)
        if (stop !== undefined) return yield* stop
      }
    }
    const retrying = <A>(
      op: string,
      attempt: (client: Client, timeoutMs: number, address: string) => Effect.Effect<A, GrpcClient.GrpcCallError>,
      first?: FirstAttempt
    ): Effect.Effect<A, RaftClientError> => Effect.gen(() => runSteps(op, attempt, first))
    const run = <A>(
      op: string,
      attempt: (client: Client, timeoutMs: number, address: string) => Effect.Effect<A, GrpcClient.GrpcCallError>
    ): Effect.Effect<A, RaftClientError> =>
      retrying(op, attempt).pipe(Effect.withSpan(`raft.client ${op}`, { captureStackTrace: false }))

    /**
     * A RecordOrders call, first tried without the retry loop (ADR 0095): when the leader is
     * known and its stream is open, the request is written at once and the answer resumes the
     * caller, one `Effect.async` in all. Anything else, and any failure, goes through the retry
     * loop (`runSteps`), which counts the failed attempt and its time. The call's span is
     * made with `useSpan`: the request carries it as its traceparent, and only the retry loop,
     * which makes gRPC calls with spans of their own, runs with it as the parent span.
     */
    const recordCall = (op: string, request: Uint8Array): Effect.Effect<Uint8Array, RaftClientError> => {
      const attempt = (c: Client, timeoutMs: number, address: string) =>
        unaryOnly.has(address)
          ? c.recordOrders(request, { deadline: timeoutMs })
          : streamed(c, address, request, timeoutMs)
      return Effect.useSpan(
        `raft.client ${op}`,
        { captureStackTrace: false },
        (span) =>
          Effect.async<Uint8Array, RaftClientError>((resume) => {
            const retryingIn = (first?: FirstAttempt) => Effect.withParentSpan(retrying(op, attempt, first), span)
            const address = target
            const session = address === undefined ? undefined : sessions.get(address)
            if (address === undefined || session === undefined || unaryOnly.has(address)) {
              return resume(retryingIn())
            }
            const started = performance.now()
            const timeoutMs = Math.min(Duration.toMillis(attemptTimeout), Duration.toMillis(deadline))
            const cancel = sendOnStream(session, request, Traceparent.format(span), timeoutMs, (exit) => {
              if (Exit.isSuccess(exit)) return resume(Effect.succeed(exit.value))
              const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
              if (error === undefined) return resume(exit as Exit.Exit<never>)
              resume(retryingIn({ address, error, elapsedMs: performance.now() - started }))
            })
            return Effect.sync(cancel)
          })
      )
    }

    const recordChunk = (records: ReadonlyArray<OrderRecord.OrderRecord>, op = "recordBatch") => {
      const request = RegistryBytes.encodeRequest(records)
      return recordCall(op, request).pipe(
        Effect.flatMap((reply) => {
          // the records stored by this call come back as the objects proposed, not copies
          const decoded = RegistryBytes.decodeResponse(reply, records)
          if (Either.isLeft(decoded)) {
            return Effect.dieMessage(`raft-node answered an invalid RecordOrders response: ${decoded.left.message}`)
          }
          return decoded.right.length === records.length
            ? Effect.succeed(decoded.right)
            : Effect.dieMessage(`raft-node answered ${decoded.right.length} outcomes for ${records.length} records`)
        })
      )
    }

    const client: RaftClient = {
      // a batch of one rather than a unary Apply: on the stream a call costs a fraction of one
      record: (record) =>
        recordChunk([record], "record").pipe(
          Effect.map((outcomes) => outcomes[0]!),
          Effect.annotateLogs("orderId", record.orderId)
        ),
      recordBatch: (records) => {
        if (records.length === 0) return Effect.succeed([])
        if (records.length <= maxRecordsPerCall) return recordChunk(records)
        // in order, one call after the other: a record repeated in a later chunk gets the
        // outcome stored by the earlier one, as within one call
        const chunks: Array<ReadonlyArray<OrderRecord.OrderRecord>> = []
        for (let i = 0; i < records.length; i += maxRecordsPerCall) {
          chunks.push(records.slice(i, i + maxRecordsPerCall))
        }
        return Effect.map(Effect.forEach(chunks, (chunk) => recordChunk(chunk)), (outcomes) => outcomes.flat())
      },
      read: (orderId) =>
        run("read", (c, timeoutMs) => c.read({ orderId }, { deadline: timeoutMs })).pipe(
          Effect.map((reply) =>
            reply.found && reply.record !== undefined
              ? Option.some({
                record: Either.getOrThrowWith(OrderRecord.fromProto(reply.record), (e) => new Error(e.message)),
                index: reply.index
              })
              : Option.none()
          )
        ),
      leader: run("leader", (c, timeoutMs) => c.leader({}, { deadline: timeoutMs })).pipe(
        Effect.map((r) => ({ leaderId: r.leaderId, grpcAddr: r.leaderGrpcAddr, term: r.term }))
      ),
      currentTarget: Effect.sync(() => target)
    }
    return client
  })
