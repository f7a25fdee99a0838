// Health derived from what is actually running, never set by hand: components register
// named workers (fibers supervised in a FiberMap, with heartbeats on the Effect Clock) and
// dependency checks (probes re-run on an interval). `/healthz` and grpc.health.v1 both
// read `report`/`status`, so they cannot disagree. Services may also register named
// `info` views (structured JSON, read on each `/healthz`) that describe but never decide health.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { ServerConfig } from "./ServerConfig.js"

export type WorkerState =
  | { readonly state: "running"; readonly lastHeartbeatAgoMs: number | null }
  | { readonly state: "stale"; readonly lastHeartbeatAgoMs: number; readonly staleAfterMs: number }
  | { readonly state: "failed"; readonly cause: string }

export type CheckState =
  | { readonly state: "pending" }
  | { readonly state: "ok"; readonly detail: string; readonly checkedAtMs: number }
  | { readonly state: "failed"; readonly detail: string; readonly checkedAtMs: number }

export type ComponentReport = { readonly name: string; readonly services: ReadonlyArray<string> } & WorkerState
export type CheckReport = { readonly name: string; readonly services: ReadonlyArray<string> } & CheckState

export interface Report {
  /** True when not draining and every worker runs with a fresh heartbeat and every check passed. */
  readonly serving: boolean
  readonly phase: "serving" | "draining"
  readonly components: ReadonlyArray<ComponentReport>
  readonly checks: ReadonlyArray<CheckReport>
}

/** `unknown` is for a gRPC service name nobody registered. */
export type ServingStatus = "serving" | "not_serving" | "unknown"

export interface WorkerOptions {
  /** The worker is stale when it has not called `heartbeat` for this long (none: no heartbeat expected). */
  readonly staleAfter?: Duration.DurationInput | undefined
  /** gRPC service names this worker affects (default: all). */
  readonly services?: ReadonlyArray<string> | undefined
}

export interface CheckOptions {
  /** Probe timeout (default 2 s); a probe that takes longer counts as failed. */
  readonly timeout?: Duration.DurationInput | undefined
  /** How often to re-run the probe (default `HEALTH_INTERVAL_MS`). */
  readonly interval?: Duration.DurationInput | undefined
  readonly services?: ReadonlyArray<string> | undefined
}

export interface InfoOptions {
  /** A read that takes longer appears as `{ "error": "timed out ..." }` (default 1 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Top-level `/healthz` body fields; an info may not shadow them. */
export const reservedInfoNames: ReadonlyArray<string> = [
  "service",
  "nodeId",
  "status",
  "serving",
  "phase",
  "components",
  "checks"
]

export class DuplicateComponent extends Error {
  constructor(readonly component: string) {
    super(`health component "${component}" is already registered`)
  }
}

export class ReservedInfoName extends Error {
  constructor(readonly info: string) {
    super(`health info "${info}" would shadow a /healthz body field (reserved: ${reservedInfoNames.join(", ")})`)
  }
}

interface WorkerEntry {
  readonly services: ReadonlyArray<string>
  readonly staleAfterMs: number | undefined
  readonly registeredAtMs: number
  readonly failure: string | undefined
}

interface CheckEntry {
  readonly services: ReadonlyArray<string>
  readonly state: CheckState
}

interface State {
  readonly draining: boolean
  readonly workers: ReadonlyMap<string, WorkerEntry>
  readonly checks: ReadonlyMap<string, CheckEntry>
  readonly grpcServices: ReadonlySet<string>
  /** Bumped by the ticker so watchers re-evaluate heartbeat staleness. */
  readonly tick: number
}

export interface HealthApi {
  /**
   * Forks `run` as a supervised worker for the lifetime of the caller's scope. The worker
   * gets a `heartbeat` to call from its loop. A worker that ends (failure, defect, external
   * interruption, or plain return) while registered is reported as failed.
   */
  readonly worker: <E, R>(
    name: string,
    run: (heartbeat: Effect.Effect<void>) => Effect.Effect<unknown, E, R>,
    options?: WorkerOptions
  ) => Effect.Effect<Fiber.RuntimeFiber<unknown, E>, never, R | Scope.Scope>
  /** Registers a dependency probe (succeeds with an optional detail, fails with the reason). */
  readonly check: <E, R>(
    name: string,
    probe: Effect.Effect<string | void, E, R>,
    options?: CheckOptions
  ) => Effect.Effect<void, never, R | Scope.Scope>
  /**
   * Registers a structured view under `name` for the caller's scope. `read` runs on each
   * {@link HealthApi.infos} read (each `/healthz`), and its value (JSON-serialisable) appears
   * as `body[name]`. It never affects serving status: make a `check` for that. A read that
   * dies or times out shows as `{ error }` rather than failing the whole body.
   */
  readonly info: <R>(
    name: string,
    read: Effect.Effect<unknown, never, R>,
    options?: InfoOptions
  ) => Effect.Effect<void, never, R | Scope.Scope>
  /** The current value of every registered info view, by name. */
  readonly infos: Effect.Effect<Readonly<Record<string, unknown>>>
  /** Makes `name` known to grpc.health.v1 (done by the gRPC server for each service it serves). */
  readonly registerGrpcService: (name: string) => Effect.Effect<void, never, Scope.Scope>
  /** The gRPC service names registered so far. */
  readonly grpcServices: Effect.Effect<ReadonlyArray<string>>
  /** Reports not serving from now on (first step of a graceful shutdown). */
  readonly drain: Effect.Effect<void>
  readonly report: Effect.Effect<Report>
  /** Status for one gRPC service name; `""` is the whole process. */
  readonly status: (service: string) => Effect.Effect<ServingStatus>
  /** Emits the status for `service` now and on every change. */
  readonly watch: (service: string) => Stream.Stream<ServingStatus>
}

const describeExit = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit)
    ? "worker returned (workers are expected to run until shutdown)"
    : Cause.isInterruptedOnly(exit.cause)
    ? "interrupted"
    : Cause.pretty(exit.cause, { renderErrorCause: true }).split("\n")[0]!

const affects = (services: ReadonlyArray<string>, service: string) =>
  service === "" || services.length === 0 || services.includes(service)

export const make: Effect.Effect<HealthApi, never, Scope.Scope | ServerConfig> = Effect.gen(function*() {
  const { healthInterval } = yield* ServerConfig
  const state = yield* SubscriptionRef.make<State>({
    draining: false,
    workers: new Map(),
    checks: new Map(),
    grpcServices: new Set(),
    tick: 0
  })
  // heartbeats are frequent: keep them out of the change stream, the ticker makes staleness visible
  const heartbeats = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
  const fibers = yield* FiberMap.make<string>()
  // not part of `state`: infos never change the serving status, so watchers need not see them
  const infos = yield* Ref.make<ReadonlyMap<string, Effect.Effect<unknown>>>(new Map())

  yield* SubscriptionRef.update(state, (s) => ({ ...s, tick: s.tick + 1 })).pipe(
    Effect.repeat(Schedule.spaced(healthInterval)),
    Effect.forkScoped
  )

  const editWorkers = (f: (workers: Map<string, WorkerEntry>) => void) =>
    SubscriptionRef.update(state, (s) => {
      const workers = new Map(s.workers)
      f(workers)
      return { ...s, workers }
    })

  const editChecks = (f: (checks: Map<string, CheckEntry>) => void) =>
    SubscriptionRef.update(state, (s) => {
      const checks = new Map(s.checks)
      f(checks)
      return { ...s, checks }
    })

  const claim = (name: string) =>
    SubscriptionRef.modify(state, (s) => [!s.workers.has(name) && !s.checks.has(name), s] as const).pipe(
      Effect.flatMap((free) => free ? Effect.void : Effect.die(new DuplicateComponent(name)))
    )

  const worker: HealthApi["worker"] = (name, run, options = {}) =>
    Effect.gen(function*() {
      yield* claim(name)
      const now = yield* Clock.currentTimeMillis
      yield* editWorkers((workers) =>
        workers.set(name, {
          services: options.services ?? [],
          staleAfterMs: options.staleAfter === undefined ? undefined : Duration.toMillis(options.staleAfter),
          registeredAtMs: now,
          failure: undefined
        })
      )
      const heartbeat = Effect.flatMap(
        Clock.currentTimeMillis,
        (at) => Ref.update(heartbeats, (beats) => new Map(beats).set(name, at))
      )
      const fiber = yield* FiberMap.run(
        fibers,
        name,
        run(heartbeat).pipe(
          Effect.onExit((exit) =>
            // still registered means nobody asked it to stop: that is a failure
            SubscriptionRef.modify(state, (s) => {
              const entry = s.workers.get(name)
              if (entry === undefined) return [false, s] as const
              const workers = new Map(s.workers).set(name, { ...entry, failure: describeExit(exit) })
              return [true, { ...s, workers }] as const
            }).pipe(
              Effect.flatMap((unexpected) =>
                unexpected
                  ? Effect.logError(`worker ${name} stopped unexpectedly`, Exit.isFailure(exit) ? exit.cause : "")
                    .pipe(Effect.annotateLogs({ component: name }))
                  : Effect.void
              )
            )
          )
        )
      )
      yield* Effect.addFinalizer(() =>
        editWorkers((workers) => workers.delete(name)).pipe(
          Effect.zipRight(FiberMap.remove(fibers, name)),
          Effect.zipRight(Ref.update(heartbeats, (beats) => {
            const next = new Map(beats)
            next.delete(name)
            return next
          })),
          Effect.zipRight(Effect.logInfo(`worker ${name} stopped`).pipe(Effect.annotateLogs({ component: name })))
        )
      )
      return fiber
    })

  const check: HealthApi["check"] = (name, probe, options = {}) =>
    Effect.gen(function*() {
      yield* claim(name)
      const timeout = Duration.decode(options.timeout ?? "2 seconds")
      yield* editChecks((checks) => checks.set(name, { services: options.services ?? [], state: { state: "pending" } }))
      const runOnce = probe.pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => `timed out after ${Duration.format(timeout)}`
        }),
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (checkedAtMs) =>
            editChecks((checks) => {
              const entry = checks.get(name)
              if (entry === undefined) return
              checks.set(name, {
                ...entry,
                state: Exit.isSuccess(exit)
                  ? { state: "ok", detail: typeof exit.value === "string" ? exit.value : "", checkedAtMs }
                  : {
                    state: "failed",
                    detail: Option.match(Cause.failureOption(exit.cause), {
                      onSome: (e) => typeof e === "string" ? e : e instanceof Error ? e.message : String(e),
                      onNone: () => Cause.pretty(exit.cause).split("\n")[0]!
                    }),
                    checkedAtMs
                  }
              })
            }))
        )
      )
      yield* runOnce.pipe(
        Effect.repeat(Schedule.spaced(options.interval ?? healthInterval)),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() => editChecks((checks) => checks.delete(name)))
    })

  const info: HealthApi["info"] = (name, read, options = {}) =>
    Effect.gen(function*() {
      if (reservedInfoNames.includes(name)) return yield* Effect.die(new ReservedInfoName(name))
      const context = yield* Effect.context<Effect.Effect.Context<typeof read>>()
      const timeout = Duration.decode(options.timeout ?? "1 second")
      const guarded = read.pipe(
        Effect.provide(context),
        Effect.timeoutFail({ duration: timeout, onTimeout: () => `timed out after ${Duration.format(timeout)}` }),
        Effect.catchAllCause((cause) =>
          Effect.succeed({
            error: Option.match(Cause.failureOption(cause), {
              onSome: (e) => e,
              onNone: () => Cause.pretty(cause).split("\n")[0]!
            })
          })
        )
      )
      yield* Effect.acquireRelease(
        Ref.modify(infos, (m) => m.has(name) ? [false, m] as const : [true, new Map(m).set(name, guarded)] as const)
          .pipe(Effect.flatMap((free) => free ? Effect.void : Effect.die(new DuplicateComponent(name)))),
        () =>
          Ref.update(infos, (m) => {
            const next = new Map(m)
            next.delete(name)
            return next
          })
      )
    })

  const readInfos = Effect.flatMap(
    Ref.get(infos),
    (m) =>
      Effect.forEach([...m], ([name, read]) => Effect.map(read, (value) => [name, value] as const), {
        concurrency: "unbounded"
      }).pipe(Effect.map((entries) => Object.fromEntries(entries)))
  )

  const registerGrpcService = (name: string) =>
    Effect.acquireRelease(
      SubscriptionRef.update(state, (s) => ({ ...s, grpcServices: new Set(s.grpcServices).add(name) })),
      () =>
        SubscriptionRef.update(state, (s) => {
          const grpcServices = new Set(s.grpcServices)
          grpcServices.delete(name)
          return { ...s, grpcServices }
        })
    )

  const evaluate = (s: State, beats: ReadonlyMap<string, number>, now: number): Report => {
    const components: Array<ComponentReport> = [...s.workers].map(([name, entry]) => {
      if (entry.failure !== undefined) return { name, services: entry.services, state: "failed", cause: entry.failure }
      const last = beats.get(name)
      const agoMs = now - (last ?? entry.registeredAtMs)
      if (entry.staleAfterMs !== undefined && agoMs > entry.staleAfterMs) {
        return {
          name,
          services: entry.services,
          state: "stale",
          lastHeartbeatAgoMs: agoMs,
          staleAfterMs: entry.staleAfterMs
        }
      }
      return { name, services: entry.services, state: "running", lastHeartbeatAgoMs: last === undefined ? null : agoMs }
    })
    const checks: Array<CheckReport> = [...s.checks].map(([name, entry]) => ({
      name,
      services: entry.services,
      ...entry.state
    }))
    const serving = !s.draining && components.every((c) => c.state === "running") &&
      checks.every((c) => c.state === "ok")
    return { serving, phase: s.draining ? "draining" : "serving", components, checks }
  }

  const report = Effect.all([SubscriptionRef.get(state), Ref.get(heartbeats), Clock.currentTimeMillis]).pipe(
    Effect.map(([s, beats, now]) => evaluate(s, beats, now))
  )

  const statusOf = (s: State, r: Report, service: string): ServingStatus => {
    if (service !== "" && !s.grpcServices.has(service)) return "unknown"
    if (s.draining) return "not_serving"
    const ok = r.components.every((c) => !affects(c.services, service) || c.state === "running") &&
      r.checks.every((c) => !affects(c.services, service) || c.state === "ok")
    return ok ? "serving" : "not_serving"
  }

  const status = (service: string) =>
    Effect.all([SubscriptionRef.get(state), report]).pipe(Effect.map(([s, r]) => statusOf(s, r, service)))

  const watch = (service: string) =>
    state.changes.pipe(
      Stream.mapEffect((s) =>
        Effect.all([Ref.get(heartbeats), Clock.currentTimeMillis]).pipe(
          Effect.map(([beats, now]) => statusOf(s, evaluate(s, beats, now), service))
        )
      ),
      Stream.changes
    )

  return {
    worker,
    check,
    info,
    infos: readInfos,
    registerGrpcService,
    grpcServices: Effect.map(SubscriptionRef.get(state), (s) => [...s.grpcServices]),
    drain: SubscriptionRef.update(state, (s) => ({ ...s, draining: true })),
    report,
    status,
    watch
  }
})

export class Health extends Context.Tag("@trading/platform/Health")<Health, HealthApi>() {
  static readonly layer: Layer.Layer<Health, never, ServerConfig> = Layer.scoped(Health, make)
  /** See {@link worker}. */
  static readonly worker = <E, R>(
    name: string,
    run: (heartbeat: Effect.Effect<void>) => Effect.Effect<unknown, E, R>,
    options?: WorkerOptions
  ) => worker(name, run, options)
  /** See {@link check}. */
  static readonly check = <E, R>(name: string, probe: Effect.Effect<string | void, E, R>, options?: CheckOptions) =>
    check(name, probe, options)
  /** See {@link info}. */
  static readonly info = <R>(name: string, read: Effect.Effect<unknown, never, R>, options?: InfoOptions) =>
    info(name, read, options)
}

export const layer: Layer.Layer<Health, never, ServerConfig> = Health.layer

/** Registers a supervised worker of the current Health service (see {@link HealthApi.worker}). */
export const worker = <E, R>(
  name: string,
  run: (heartbeat: Effect.Effect<void>) => Effect.Effect<unknown, E, R>,
  options?: WorkerOptions
) => Effect.flatMap(Health, (health) => health.worker(name, run, options))

/** Registers a dependency check with the current Health service (see {@link HealthApi.check}). */
export const check = <E, R>(name: string, probe: Effect.Effect<string | void, E, R>, options?: CheckOptions) =>
  Effect.flatMap(Health, (health) => health.check(name, probe, options))

/** Registers a structured `/healthz` view with the current Health service (see {@link HealthApi.info}). */
export const info = <R>(name: string, read: Effect.Effect<unknown, never, R>, options?: InfoOptions) =>
  Effect.flatMap(Health, (health) => health.info(name, read, options))
