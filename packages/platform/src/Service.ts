// Running a service process: validate all configuration first (nothing binds on bad
// config), install logging and tracing below everything, serve /healthz and /metrics,
// build the service's layer, log "service ready", and on SIGINT/SIGTERM report not
// serving, then let the scopes close in reverse order (servers drain before the
// components they call), bounded by SHUTDOWN_TIMEOUT_MS.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Health } from "./Health.js"
import { HttpServer } from "./HttpServer.js"
import * as Logging from "./Logging.js"
import { config, describeError, ServerConfig, type ServerSettings, type ServiceDefaults } from "./ServerConfig.js"
import * as Tracing from "./Tracing.js"

/** What the platform provides to a service's layer. */
export type PlatformServices = ServerConfig | Health | HttpServer

export interface ServiceOptions extends ServiceDefaults {
  /**
   * The service's own configuration, validated together with the shared variables before
   * anything starts (read it again where it is used; Config reads are cheap).
   */
  readonly config?: Config.Config<unknown> | undefined
}

/** Config, logging and tracing (in that order, so everything built above logs and traces), plus Health. */
export const platformLayer = (settings: ServerSettings): Layer.Layer<ServerConfig | Health> =>
  Health.layer.pipe(
    Layer.provideMerge(Layer.merge(Logging.layer, Tracing.layer)),
    Layer.provideMerge(Layer.succeed(ServerConfig, settings))
  )

/** Prints why the configuration is invalid, one variable per line, to stderr. */
const reportConfigError = (service: string, error: ConfigError.ConfigError) =>
  Effect.sync(() =>
    process.stderr.write(
      `${service}: invalid configuration\n${describeError(error).map((line) => `  ${line}`).join("\n")}\n`
    )
  )

/** The first failure as `Tag: message (cause message)`, e.g. `ServeError: … (listen EADDRINUSE …)`. */
const summarize = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (!(error instanceof Error)) return String(error)
  const inner = (error as { cause?: unknown }).cause
  const detail = inner instanceof Error ? ` (${inner.message})` : ""
  return `${error.name}${error.message === "" ? "" : `: ${error.message}`}${detail}`
}

const isConfigError = (u: unknown): u is ConfigError.ConfigError => ConfigError.isConfigError(u)

/**
 * Builds `app` on top of the platform and keeps it running until interrupted. Logs
 * "service ready" once everything is built and "service stopped" after the last finalizer.
 */
export const launch = <A, E, R extends PlatformServices>(
  app: Layer.Layer<A, E, R>,
  settings: ServerSettings
): Effect.Effect<never, E | ServeError> =>
  Effect.scoped(Effect.gen(function*() {
    const health = yield* Health
    // HTTP first: /healthz answers (503) while the app starts and while it drains
    // R is at most PlatformServices, all provided here or below
    yield* Layer.build(
      app.pipe(Layer.provideMerge(HttpServer.layer())) as Layer.Layer<
        A | HttpServer,
        E | ServeError,
        ServerConfig | Health
      >
    )
    yield* Effect.logInfo("service ready")
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          // a hung finalizer must not keep the process alive forever
          setTimeout(() => {
            process.stderr.write(
              `${settings.service}: shutdown exceeded ${Duration.format(settings.shutdownTimeout)}\n`
            )
            process.exit(1)
          }, Duration.toMillis(settings.shutdownTimeout)).unref()
          yield* Effect.logInfo("shutdown started")
          yield* health.drain
        })
      )
    )
  })).pipe(
    Effect.onExit(() => Effect.logInfo("service stopped")),
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Option.match(
        Option.filter(Cause.failureOption(cause), isConfigError),
        {
          onSome: (error) =>
            Effect.logError("invalid configuration").pipe(
              Effect.annotateLogs({ problems: describeError(error) }),
              Effect.zipRight(reportConfigError(settings.service, error))
            ),
          onNone: () => Effect.logError(`service failed: ${summarize(cause)}`, cause)
        }
      )
    ),
    // provided around everything (not built inside): one logger instance, inherited by every fiber
    Effect.provide(platformLayer(settings))
  )

/**
 * The whole `main.ts` of a service:
 * `runService({ name: "order-executor", grpcPort: 50053, httpPort: 8083 }, AppLive)`.
 * Exit code 0 after a signal-driven shutdown, 1 on invalid configuration or a failed start.
 */
export const runService = <A, E, R extends PlatformServices>(
  options: ServiceOptions,
  app: Layer.Layer<A, E, R>
): void => {
  const program = Effect.gen(function*() {
    const [settings] = yield* Effect.all([config(options), options.config ?? Effect.void], {
      mode: "validate" // report the shared and the service's problems together
    }).pipe(
      Effect.catchAll((errors) => {
        const found = errors.flatMap((e) => Option.isSome(e) ? [e.value] : [])
        const merged = found.reduce((acc, e) => ConfigError.And(acc, e))
        return Effect.zipRight(reportConfigError(options.name, merged), Effect.fail(merged))
      })
    )
    return yield* launch(app, settings)
  })
  NodeRuntime.runMain(program, { disablePrettyLogger: true, disableErrorReporting: true })
}
