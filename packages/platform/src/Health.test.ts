import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { DuplicateComponent, Health, ReservedInfoName } from "./Health.js"
import { ServerConfig } from "./ServerConfig.js"

const TestHealth = Health.layer.pipe(
  Layer.provide(ServerConfig.layerTest()),
  Layer.provide(Logger.replace(Logger.defaultLogger, Logger.none))
)

const states = Effect.map(
  Effect.flatMap(Health, (h) => h.report),
  (r) => Object.fromEntries([...r.components, ...r.checks].map((c) => [c.name, c.state]))
)

describe("Health", () => {
  it.scoped("a running worker with fresh heartbeats is serving; a silent one goes stale", () =>
    Effect.gen(function*() {
      const health = yield* Health
      const beat = yield* Deferred.make<Effect.Effect<void>>()
      yield* health.worker("loop", (heartbeat) => Effect.zipRight(Deferred.succeed(beat, heartbeat), Effect.never), {
        staleAfter: "1 second"
      })
      const heartbeat = yield* Deferred.await(beat)
      yield* heartbeat
      expect((yield* health.report).serving).toBe(true)
      yield* TestClock.adjust("900 millis")
      yield* heartbeat
      yield* TestClock.adjust("900 millis")
      expect(yield* states).toEqual({ loop: "running" })
      yield* TestClock.adjust("200 millis")
      const report = yield* health.report
      expect(report.serving).toBe(false)
      expect(report.components[0]).toMatchObject({ name: "loop", state: "stale", lastHeartbeatAgoMs: 1100 })
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("a worker that dies is failed with its cause; one that returns is failed too", () =>
    Effect.gen(function*() {
      const health = yield* Health
      const dying = yield* health.worker("dies", () => Effect.dieMessage("disk on fire"))
      const returning = yield* health.worker("returns", () => Effect.void)
      yield* Fiber.await(dying)
      yield* Fiber.await(returning)
      const report = yield* health.report
      expect(report.serving).toBe(false)
      expect(report.components).toEqual([
        { name: "dies", services: [], state: "failed", cause: expect.stringContaining("disk on fire") },
        { name: "returns", services: [], state: "failed", cause: expect.stringContaining("returned") }
      ])
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("an externally interrupted worker is failed; closing its own scope just removes it", () =>
    Effect.gen(function*() {
      const health = yield* Health
      const killed = yield* health.worker("killed", () => Effect.never)
      const scope = yield* Scope.make()
      yield* health.worker("scoped", () => Effect.never).pipe(Scope.extend(scope))
      yield* Fiber.interrupt(killed)
      expect(yield* states).toEqual({ killed: "failed", scoped: "running" })
      yield* Scope.close(scope, Exit.void)
      expect(yield* states).toEqual({ killed: "failed" })
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("dependency checks are pending, then ok or failed with the reason, re-run on the interval", () =>
    Effect.gen(function*() {
      const health = yield* Health
      let up = true
      yield* health.check("broker", Effect.suspend(() => up ? Effect.succeed("3 brokers") : Effect.fail("refused")), {
        interval: "1 second"
      })
      yield* health.check("slow", Effect.never, { timeout: "500 millis", interval: "1 second" })
      // the first probe runs in its own fiber right away
      expect(yield* Effect.repeat(states, { until: (s) => s.broker !== "pending" })).toEqual({
        broker: "ok",
        slow: "pending"
      })
      yield* TestClock.adjust("500 millis")
      const report = yield* health.report
      expect(report.checks).toEqual([
        { name: "broker", services: [], state: "ok", detail: "3 brokers", checkedAtMs: 0 },
        { name: "slow", services: [], state: "failed", detail: "timed out after 500ms", checkedAtMs: 500 }
      ])
      up = false
      yield* TestClock.adjust("1 second")
      expect((yield* health.report).checks[0]).toMatchObject({ state: "failed", detail: "refused" })
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("status is per gRPC service: components scoped to one service do not fail the others", () =>
    Effect.gen(function*() {
      const health = yield* Health
      yield* health.registerGrpcService("a.A")
      yield* health.registerGrpcService("b.B")
      const worker = yield* health.worker("only-a", () => Effect.never, { services: ["a.A"] })
      yield* Fiber.interrupt(worker)
      expect(yield* health.status("a.A")).toBe("not_serving")
      expect(yield* health.status("b.B")).toBe("serving")
      expect(yield* health.status("")).toBe("not_serving")
      expect(yield* health.status("c.C")).toBe("unknown")
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("watch emits the current status and each change; drain turns everything off", () =>
    Effect.gen(function*() {
      const health = yield* Health
      yield* health.registerGrpcService("a.A")
      const seen = yield* Queue.unbounded<string>()
      yield* health.watch("a.A").pipe(Stream.runForEach((s) => Queue.offer(seen, s)), Effect.forkScoped)
      expect(yield* Queue.take(seen)).toBe("serving")
      yield* health.drain
      expect(yield* Queue.take(seen)).toBe("not_serving")
      expect((yield* health.report).phase).toBe("draining")
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("a duplicate component name is a defect", () =>
    Effect.gen(function*() {
      const health = yield* Health
      yield* health.worker("x", () => Effect.never)
      const exit = yield* Effect.exit(health.check("x", Effect.void))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(DuplicateComponent)
    }).pipe(Effect.provide(TestHealth)))

  class Counter extends Context.Tag("test/Counter")<Counter, Ref.Ref<number>>() {}

  it.scoped("info views are read live with the registrant's context, never change status, and leave with their scope", () =>
    Effect.gen(function*() {
      const health = yield* Health
      const counter = yield* Ref.make(1)
      const scope = yield* Scope.make()
      yield* Health.info("view", Effect.map(Effect.flatMap(Counter, Ref.get), (n) => ({ n, nested: { ok: true } })))
        .pipe(Effect.provideService(Counter, counter), Scope.extend(scope))
      expect(yield* health.infos).toEqual({ view: { n: 1, nested: { ok: true } } })
      yield* Ref.set(counter, 2)
      expect(yield* health.infos).toEqual({ view: { n: 2, nested: { ok: true } } })
      // a view is not a check: serving stays true, and no component appears for it
      const report = yield* health.report
      expect(report.serving).toBe(true)
      expect([...report.components, ...report.checks]).toEqual([])
      yield* Scope.close(scope, Exit.void)
      expect(yield* health.infos).toEqual({})
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("an info view that dies or hangs shows an error instead of failing the other views", () =>
    Effect.gen(function*() {
      const health = yield* Health
      yield* health.info("broken", Effect.die(new Error("boom")))
      yield* health.info("slow", Effect.never, { timeout: "1 second" })
      yield* health.info("fine", Effect.succeed(42))
      const fiber = yield* Effect.fork(health.infos)
      yield* TestClock.adjust("1 second")
      const infos = yield* Fiber.join(fiber)
      expect(infos).toMatchObject({ fine: 42, slow: { error: "timed out after 1s" } })
      expect((infos["broken"] as { error: string }).error).toContain("boom")
    }).pipe(Effect.provide(TestHealth)))

  it.scoped("an info view may not reuse a name or shadow a /healthz body field", () =>
    Effect.gen(function*() {
      const health = yield* Health
      yield* health.info("view", Effect.succeed(1))
      const duplicate = yield* Effect.exit(health.info("view", Effect.succeed(2)))
      expect(Exit.isFailure(duplicate) && Cause.squash(duplicate.cause)).toBeInstanceOf(DuplicateComponent)
      const reserved = yield* Effect.exit(health.info("status", Effect.succeed(3)))
      expect(Exit.isFailure(reserved) && Cause.squash(reserved.cause)).toBeInstanceOf(ReservedInfoName)
      expect(yield* health.infos).toEqual({ view: 1 })
    }).pipe(Effect.provide(TestHealth)))
})
