// Pure rendering of a finished trace as an indented tree (no I/O, unit tested).
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"

export interface FinishedSpan {
  readonly name: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly traceId: string
  readonly kind: string
  readonly startNanos: bigint
  readonly endNanos: bigint
  readonly attributes: ReadonlyMap<string, unknown>
  /** Spans of other traces this one continues (a batch links the records it consumed). */
  readonly links?: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  readonly exit: Exit.Exit<unknown, unknown>
}

const formatDuration = (nanos: bigint): string => {
  const ms = Number(nanos) / 1e6
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${ms.toFixed(ms < 10 ? 2 : 1)}ms`
}

const formatValue = (value: unknown): string => {
  if (typeof value === "string") return /[\s"]/.test(value) ? JSON.stringify(value) : value
  if (typeof value === "bigint") return value.toString()
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const formatOutcome = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return ""
  if (Cause.isInterruptedOnly(exit.cause)) return " ⊘ interrupted"
  const firstLine = Cause.pretty(exit.cause, { renderErrorCause: false }).split("\n")[0] ?? "failed"
  return ` ✗ ${firstLine}`
}

const describe = (span: FinishedSpan): string => {
  const attributes = [...span.attributes]
    // headers and code locations make lines unreadable; the OTLP export keeps them
    .filter(([key]) => !/^(code\.|http\.(request|response)\.header\.|user_agent\.|url\.full$)/.test(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`)
  // as `<trace id>-<span id>`: how a batch's trace leads to the traces of its records
  if (span.links !== undefined && span.links.length > 0) {
    attributes.push(`links=${span.links.map((link) => `${link.traceId}-${link.spanId}`).join(",")}`)
  }
  const kind = span.kind === "internal" ? "" : ` [${span.kind}]`
  return `${span.name}${kind} ${formatDuration(span.endNanos - span.startNanos)}${formatOutcome(span.exit)}` +
    (attributes.length > 0 ? `  ${attributes.join(" ")}` : "")
}

/**
 * Renders `root` and every span below it (children sorted by start time). Spans whose
 * parent is missing from `spans` are attached to the root so nothing is lost.
 */
export const render = (root: FinishedSpan, spans: ReadonlyArray<FinishedSpan>, header = ""): string => {
  const known = new Set(spans.map((span) => span.spanId))
  const children = new Map<string, Array<FinishedSpan>>()
  for (const span of spans) {
    if (span.spanId === root.spanId) continue
    const parent = span.parentSpanId !== undefined && known.has(span.parentSpanId) ? span.parentSpanId : root.spanId
    const list = children.get(parent) ?? []
    list.push(span)
    children.set(parent, list)
  }
  const lines: Array<string> = [`${header}trace ${root.traceId}`, describe(root)]
  const walk = (spanId: string, prefix: string) => {
    const list = (children.get(spanId) ?? []).sort((a, b) =>
      a.startNanos < b.startNanos ? -1 : a.startNanos > b.startNanos ? 1 : 0
    )
    list.forEach((span, index) => {
      const last = index === list.length - 1
      lines.push(`${prefix}${last ? "└─ " : "├─ "}${describe(span)}`)
      walk(span.spanId, `${prefix}${last ? "   " : "│  "}`)
    })
  }
  walk(root.spanId, "")
  return lines.join("\n")
}
