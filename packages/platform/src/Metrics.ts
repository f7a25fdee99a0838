// Metrics are Effect `Metric`s (counters, gauges, histograms); this module renders their
// snapshot in the Prometheus text exposition format (0.0.4) for `GET /metrics`, and gives
// services a latency histogram with sensible buckets plus a helper that times an effect.
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** Latency buckets in seconds: 1 ms … 10 s. */
export const latencyBuckets: ReadonlyArray<number> = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10
]

/** Label pairs baked into a metric's key. */
export type Labels = ReadonlyArray<readonly [string, string]>

const labelled = <Type extends MetricKeyType.MetricKeyType.Untyped>(key: MetricKey.MetricKey<Type>, labels: Labels) =>
  Metric.fromMetricKey(
    labels.length === 0 ? key : MetricKey.taggedWithLabels(key, labels.map(([k, v]) => MetricLabel.make(k, v)))
  )

/**
 * A monotonic counter (rendered with `# TYPE counter`; Prometheus convention: name it
 * `..._total`), with `labels` in its key.
 */
export const counter = (name: string, description?: string, labels: Labels = []) =>
  labelled(MetricKey.counter(name, { description, incremental: true }), labels)

/** A histogram of durations in seconds (Prometheus convention: name it `..._seconds`), with `labels` in its key. */
export const latency = (
  name: string,
  description?: string,
  buckets: ReadonlyArray<number> = latencyBuckets,
  labels: Labels = []
) => labelled(MetricKey.histogram(name, MetricBoundaries.fromIterable(buckets), description), labels)

/**
 * One metric per combination of label values, each built once with its labels in its key:
 * `Metric.tagged` builds (and hashes) a new metric key on every update, which per-call paths
 * such as the gRPC bridges pay for on every call.
 */
export const family = <M>(make: (...values: ReadonlyArray<string>) => M) => {
  const built = new Map<string, M>()
  return (...values: ReadonlyArray<string>): M => {
    const key = values.join("\u0000")
    let metric = built.get(key)
    if (metric === undefined) {
      metric = make(...values)
      built.set(key, metric)
    }
    return metric
  }
}

/** Records how long `effect` took (success or failure) into `histogram`, in seconds. */
export const time =
  <Type, Out>(histogram: Metric.Metric<Type, number, Out>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeNanos, (start) =>
      effect.pipe(
        Effect.ensuring(
          Effect.flatMap(
            Clock.currentTimeNanos,
            (end) => Metric.update(histogram, Number(end - start) / 1e9)
          )
        )
      ))

const sanitizeName = (name: string) => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const labels = (tags: ReadonlyArray<readonly [string, string]>): string =>
  tags.length === 0 ? "" : `{${tags.map(([k, v]) => `${sanitizeName(k)}="${escapeLabel(v)}"`).join(",")}}`

const num = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

interface Family {
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  readonly help: string | undefined
  readonly lines: Array<string>
}

/** Renders metric pairs as Prometheus text, one family (HELP/TYPE) per metric name. */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  const family = (name: string, type: Family["type"], help: string | undefined) => {
    const existing = families.get(name)
    if (existing !== undefined) return existing
    const created: Family = { type, help, lines: [] }
    families.set(name, created)
    return created
  }
  for (const pair of pairs) {
    const key = pair.metricKey
    const name = sanitizeName(key.name)
    const help = Option.getOrUndefined(key.description)
    const tags = key.tags.map((tag) => [tag.key, tag.value] as const)
    const state = pair.metricState
    if (MetricState.isCounterState(state)) {
      // an Effect counter may go down unless created with `incremental: true`: then it is a gauge
      const incremental = (key.keyType as { readonly incremental?: boolean }).incremental === true
      family(name, incremental ? "counter" : "gauge", help).lines.push(`${name}${labels(tags)} ${num(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", help).lines.push(`${name}${labels(tags)} ${num(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = family(name, "histogram", help).lines
      // Effect's histogram buckets are cumulative counts per upper bound
      let sawInf = false
      for (const [bound, count] of state.buckets) {
        if (bound === Infinity) sawInf = true
        lines.push(`${name}_bucket${labels([...tags, ["le", num(bound)]])} ${count}`)
      }
      if (!sawInf) lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
      lines.push(`${name}_sum${labels(tags)} ${num(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isSummaryState(state)) {
      const lines = family(name, "summary", help).lines
      for (const [quantile, value] of state.quantiles) {
        lines.push(
          `${name}${labels([...tags, ["quantile", num(quantile)]])} ${num(Option.getOrElse(value, () => NaN))}`
        )
      }
      lines.push(`${name}_sum${labels(tags)} ${num(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isFrequencyState(state)) {
      // a frequency is a set of counters, one per observed value
      const lines = family(name, "counter", help).lines
      for (const [value, count] of state.occurrences) {
        lines.push(`${name}${labels([...tags, ["value", value]])} ${count}`)
      }
    }
  }
  const out: Array<string> = []
  for (const [name, { help, lines, type }] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (help !== undefined) out.push(`# HELP ${name} ${escapeHelp(help)}`)
    out.push(`# TYPE ${name} ${type}`)
    out.push(...lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

// The process's memory, read at each scrape: where a service's RSS goes (V8 heap, buffers
// outside it) is the first question when it grows.
const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident set size of the process"
})
const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use" })
const heapTotal = Metric.gauge("nodejs_heap_total_bytes", { description: "V8 heap reserved" })
const externalMemory = Metric.gauge("nodejs_external_memory_bytes", {
  description: "Memory of C++ objects bound to JavaScript objects, array buffers included"
})
const arrayBuffers = Metric.gauge("nodejs_array_buffers_bytes", {
  description: "Memory of ArrayBuffers and Buffers (part of the external memory)"
})

const processMemory = Effect.suspend(() => {
  const m = process.memoryUsage()
  return Effect.all([
    Metric.set(residentMemory, m.rss),
    Metric.set(heapUsed, m.heapUsed),
    Metric.set(heapTotal, m.heapTotal),
    Metric.set(externalMemory, m.external),
    Metric.set(arrayBuffers, m.arrayBuffers)
  ], { discard: true })
})

/** The current snapshot of every metric, the process's memory included, as Prometheus text. */
export const prometheusText: Effect.Effect<string> = Effect.zipRight(
  processMemory,
  Effect.map(Metric.snapshot, renderPrometheus)
)
