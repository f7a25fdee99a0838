// Tracing: `TRACE=console` prints every finished local root span as a tree with durations,
// attributes and errors (to stderr, so stdout stays one JSON log line per line);
// `TRACE=otlp` exports spans over OTLP/HTTP (JSON) to `TRACE_OTLP_URL`; `off` keeps
// Effect's native tracer (ids still propagate, nothing is printed).
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { randomBytes } from "node:crypto"
import { type FinishedSpan, render } from "./internal/traceTree.js"
import { ServerConfig } from "./ServerConfig.js"

/** A root keeps at most this many finished descendants; beyond it they are counted, not kept. */
const maxSpansPerTrace = 2_000

interface Bucket {
  readonly spans: Array<FinishedSpan>
  dropped: number
  ended: boolean
}

class ConsoleSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId: string
  readonly traceId: string
  readonly sampled: boolean
  readonly attributes = new Map<string, unknown>()
  readonly links: Array<Tracer.SpanLink>
  status: Tracer.SpanStatus
  /** The local root's bucket: spans created below a remote or absent parent start a new one. */
  readonly bucket: Bucket

  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    private readonly flush: (root: ConsoleSpan, bucket: Bucket, late: boolean) => void
  ) {
    this.traceId = Option.isSome(parent) ? parent.value.traceId : randomBytes(16).toString("hex")
    this.sampled = Option.isSome(parent) ? parent.value.sampled : true
    this.spanId = randomBytes(8).toString("hex")
    this.links = [...links]
    this.status = { _tag: "Started", startTime }
    const localParent = Option.isSome(parent) && parent.value instanceof ConsoleSpan ? parent.value : undefined
    this.bucket = localParent !== undefined && !localParent.bucket.ended
      ? localParent.bucket
      : { spans: [], dropped: 0, ended: false }
  }

  get isRoot(): boolean {
    return !(Option.isSome(this.parent) && this.parent.value instanceof ConsoleSpan &&
      this.parent.value.bucket === this.bucket)
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    const finished: FinishedSpan = {
      name: this.name,
      spanId: this.spanId,
      parentSpanId: Option.isSome(this.parent) ? this.parent.value.spanId : undefined,
      traceId: this.traceId,
      kind: this.kind,
      startNanos: this.status.startTime,
      endNanos: endTime,
      attributes: this.attributes,
      links: this.links.map((link) => ({ traceId: link.span.traceId, spanId: link.span.spanId })),
      exit
    }
    if (this.bucket.spans.length < maxSpansPerTrace) this.bucket.spans.push(finished)
    else this.bucket.dropped++
    if (this.isRoot) {
      this.bucket.ended = true
      this.flush(this, this.bucket, false)
    } else if (this.bucket.ended) {
      // the root finished first (a fiber outlived its parent span): print it on its own
      this.flush(this, { spans: [finished], dropped: 0, ended: true }, true)
    }
  }

  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }

  event(name: string, _startTime: bigint, attributes?: Record<string, unknown>): void {
    this.attributes.set(`event.${name}`, attributes ?? true)
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

/** A tracer that hands each finished local root span, rendered as a tree, to `print`. */
export const makeConsoleTracer = (print: (tree: string) => void, service = ""): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind) =>
      new ConsoleSpan(name, parent, context, links, startTime, kind, (root, bucket, late) => {
        const rootSpan = bucket.spans.find((span) => span.spanId === root.spanId) ?? bucket.spans[0]!
        const header = `${service === "" ? "" : `[${service}] `}${late ? "(late span) " : ""}`
        const dropped = bucket.dropped > 0 ? `\n(${bucket.dropped} more spans not shown)` : ""
        print(render(rootSpan, bucket.spans, header) + dropped)
      }),
    context: (f) => f()
  })

/** Console tracing to stderr. */
export const layerConsole = (service = ""): Layer.Layer<never> =>
  Layer.setTracer(makeConsoleTracer((tree) => process.stderr.write(`${tree}\n`), service))

/** OTLP/HTTP JSON export (batched every second, flushed on shutdown). */
export const layerOtlp = (options: { readonly url: string; readonly service: string; readonly nodeId: string }) =>
  OtlpTracer.layer({
    url: options.url,
    resource: { serviceName: options.service, attributes: { "service.instance.id": options.nodeId } },
    exportInterval: "1 second",
    shutdownTimeout: "3 seconds"
  }).pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson]))

/** The tracer chosen by `TRACE`. */
export const layer: Layer.Layer<never, never, ServerConfig> = Layer.unwrapEffect(
  Effect.map(ServerConfig, (settings) => {
    switch (settings.trace) {
      case "console":
        return layerConsole(settings.service)
      case "otlp":
        return layerOtlp({ url: settings.otlpUrl, service: settings.service, nodeId: settings.nodeId })
      case "off":
        return Layer.empty
    }
  })
)
