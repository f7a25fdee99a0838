// Structured logging: JSON lines when stdout is not a terminal (collectors, tests, CI),
// the pretty logger when a person is watching. Every line carries the service name and
// node id, and the trace/span id when it is written inside a span, so a log line can be
// matched with the console trace tree or an OTLP backend.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { type LogFormat, ServerConfig } from "./ServerConfig.js"

/** Adds `service`, `nodeId` and, inside a span, `traceId`/`spanId` to every log line. */
export const annotate = <M, O>(
  logger: Logger.Logger<M, O>,
  identity: { readonly service: string; readonly nodeId: string }
): Logger.Logger<M, O> =>
  Logger.mapInputOptions(logger, (options) => {
    let annotations = options.annotations.pipe(
      HashMap.set("service", identity.service as unknown),
      HashMap.set("nodeId", identity.nodeId as unknown)
    )
    const span = Context.getOption(
      FiberRefs.getOrDefault(options.context, FiberRef.currentContext),
      Tracer.ParentSpan
    )
    if (Option.isSome(span) && !HashMap.has(annotations, "traceId")) {
      annotations = annotations.pipe(
        HashMap.set("traceId", span.value.traceId as unknown),
        HashMap.set("spanId", span.value.spanId as unknown)
      )
    }
    return { ...options, annotations }
  })

/** `auto` resolves to pretty only when stdout is a terminal. */
export const resolveFormat = (format: LogFormat, isTTY: boolean): "json" | "pretty" =>
  format === "auto" ? (isTTY ? "pretty" : "json") : format

/** The logger for the given settings (one logger replaces Effect's default, so no line is written twice). */
export const make = (options: {
  readonly service: string
  readonly nodeId: string
  readonly format: "json" | "pretty"
}): Logger.Logger<unknown, void> =>
  annotate(
    options.format === "json" ? Logger.withConsoleLog(Logger.jsonLogger) : Logger.prettyLogger(),
    options
  )

/** Installs the logger and minimum level from {@link ServerConfig}. */
export const layer: Layer.Layer<never, never, ServerConfig> = Layer.unwrapEffect(
  Effect.map(ServerConfig, (settings) =>
    Layer.merge(
      Logger.replace(
        Logger.defaultLogger,
        make({
          service: settings.service,
          nodeId: settings.nodeId,
          format: resolveFormat(settings.logFormat, process.stdout.isTTY === true)
        })
      ),
      Logger.minimumLogLevel(settings.logLevel)
    ))
)
