// kafkajs logs through a synchronous callback; forward each entry into Effect logging on
// the runtime captured when the bus was built, so it reaches the app's logger and level.
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import { type logCreator, logLevel } from "kafkajs"

// kafkajs logs a normal rebalance at ERROR ("The group is rebalancing, re-joining"): that is
// routine in a consumer group, not an error an operator should be paged for.
const routine = /rebalancing|re-joining|not the correct coordinator|group coordinator is not available/i

export const logCreatorFor = (runtime: Runtime.Runtime<never>): logCreator => () => (entry) => {
  const { message, timestamp: _timestamp, logger: _logger, stack: _stack, ...extra } = entry.log
  const annotations: Record<string, unknown> = { "kafkajs.namespace": entry.namespace }
  for (const [name, value] of Object.entries(extra)) {
    annotations[`kafkajs.${name}`] = value instanceof Error ? value.message : value
  }
  // Connection logs every error *response* at ERROR; the client retries those or hands them
  // to the bus, which reports what matters. Keep them for debugging only.
  const protocolNoise = entry.namespace === "Connection" && message.startsWith("Response")
  const log = entry.level === logLevel.ERROR
    ? protocolNoise
      ? Effect.logDebug
      : routine.test(`${message} ${String(extra.error ?? "")}`)
      ? Effect.logInfo
      : Effect.logError
    : entry.level === logLevel.WARN
    ? Effect.logWarning
    : entry.level === logLevel.INFO
    ? Effect.logDebug
    : Effect.logTrace
  Runtime.runFork(runtime)(log(`kafkajs: ${message}`).pipe(Effect.annotateLogs(annotations)))
}
