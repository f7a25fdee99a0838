import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/TestClock"
import * as Metrics from "./Metrics.js"

describe("Metrics", () => {
  it.effect("renders counters, gauges and histograms in Prometheus text format", () =>
    Effect.gen(function*() {
      const requests = Metrics.counter("test_render_requests_total", "requests\nhandled")
      const upAndDown = Metric.counter("test_render_in_flight")
      const depth = Metric.gauge("test_render_queue_depth")
      const latency = Metrics.latency("test_render_latency_seconds", "latency", [0.1, 1])
      yield* Metric.update(requests.pipe(Metric.tagged("method", "a\"b")), 1)
      yield* Metric.update(requests.pipe(Metric.tagged("method", "a\"b")), 1)
      yield* Metric.set(depth, 4)
      yield* Metric.incrementBy(upAndDown, 3)
      yield* Metric.incrementBy(upAndDown, -1)
      yield* Metric.update(latency, 0.05)
      yield* Metric.update(latency, 0.5)
      yield* Metric.update(latency, 3)
      const text = yield* Metrics.prometheusText
      expect(text).toContain(
        "# HELP test_render_requests_total requests\\nhandled\n# TYPE test_render_requests_total counter\n"
      )
      expect(text).toContain("test_render_requests_total{method=\"a\\\"b\"} 2\n")
      expect(text).toContain("# TYPE test_render_queue_depth gauge\ntest_render_queue_depth 4\n")
      expect(text).toContain("# TYPE test_render_in_flight gauge\ntest_render_in_flight 2\n")
      expect(text).toContain(
        [
          "# HELP test_render_latency_seconds latency",
          "# TYPE test_render_latency_seconds histogram",
          "test_render_latency_seconds_bucket{le=\"0.1\"} 1",
          "test_render_latency_seconds_bucket{le=\"1\"} 2",
          "test_render_latency_seconds_bucket{le=\"+Inf\"} 3",
          "test_render_latency_seconds_sum 3.55",
          "test_render_latency_seconds_count 3"
        ].join("\n")
      )
    }))

  it.effect("reports the process's memory at each scrape", () =>
    Effect.gen(function*() {
      const text = yield* Metrics.prometheusText
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1])
      // the same process answers: its RSS cannot be smaller than the heap it uses
      expect(value("process_resident_memory_bytes")).toBeGreaterThan(value("nodejs_heap_used_bytes"))
      expect(value("nodejs_heap_total_bytes")).toBeGreaterThanOrEqual(value("nodejs_heap_used_bytes"))
      expect(value("nodejs_external_memory_bytes")).toBeGreaterThanOrEqual(value("nodejs_array_buffers_bytes"))
    }))

  it.effect("family builds one metric per label set, with the labels in its key", () =>
    Effect.gen(function*() {
      let built = 0
      const calls = Metrics.family((method, code) => {
        built++
        return Metrics.counter("test_family_calls_total", "calls", [["method", method], ["code", code]])
      })
      yield* Metric.update(calls("/a", "OK"), 1)
      yield* Metric.update(calls("/a", "OK"), 1)
      yield* Metric.update(calls("/a", "UNAVAILABLE"), 1)
      expect(calls("/a", "OK")).toBe(calls("/a", "OK"))
      expect(built).toBe(2)
      const text = yield* Metrics.prometheusText
      expect(text).toContain("test_family_calls_total{method=\"/a\",code=\"OK\"} 2\n")
      expect(text).toContain("test_family_calls_total{method=\"/a\",code=\"UNAVAILABLE\"} 1\n")
    }))

  it.effect("time records the duration of an effect, also when it fails", () =>
    Effect.gen(function*() {
      const latency = Metrics.latency("test_time_seconds", undefined, [1, 5])
      yield* Effect.sleep("2 seconds").pipe(Metrics.time(latency), Effect.fork)
      yield* TestClock.adjust("2 seconds")
      yield* Effect.sleep("500 millis").pipe(
        Effect.zipRight(Effect.fail("x")),
        Metrics.time(latency),
        Effect.ignore,
        Effect.fork
      )
      yield* TestClock.adjust("500 millis")
      const state = yield* Metric.value(latency)
      expect(state.count).toBe(2)
      expect(state.sum).toBeCloseTo(2.5)
      expect(state.buckets.find(([bound]) => bound === 1)?.[1]).toBe(1)
    }))
})
