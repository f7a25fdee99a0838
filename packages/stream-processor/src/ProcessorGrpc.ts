// trading.v1.StreamProcessorService. ProcessTick does not apply the tick itself: it
// publishes it to the ticks topic and answers with what the consumer decided for it, so a
// gRPC tick takes exactly the Kafka path (same state, same offsets, same producer) and a
// crash can never leave the state out of step with the log.
import { SYMBOL_PATTERN } from "@trading/domain/Fields"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import * as Tick from "@trading/domain/Tick"
import { GrpcService, GrpcStatus } from "@trading/platform"
import { type ProcessTickRequest, StreamProcessorServiceService } from "@trading/proto/gen/trading/v1/stream_processor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { TickProcessor } from "./TickProcessor.js"

export const layer = GrpcService.layer(
  StreamProcessorServiceService,
  Effect.gen(function*() {
    const processor = yield* TickProcessor
    // made once and given each request: a generator function made anew per call would keep
    // the request through scavenges until a full collection (ADR 0093)
    function* processTickSteps(request: ProcessTickRequest) {
      if (request.tick === undefined) {
        return yield* GrpcStatus.invalidArgument("tick: is missing", { [GrpcStatus.invalidFieldsKey]: "tick" })
      }
      const decoded = Tick.fromProto(request.tick)
      if (Either.isLeft(decoded)) {
        const error = decoded.left
        const fields = error._tag === "InvalidFields"
          ? [...new Set(error.violations.map((v) => `tick.${v.field}`))]
          : error._tag === "UnsupportedSchemaVersion"
          ? ["tick.schema_version"]
          : ["tick"]
        const details = error._tag === "InvalidFields"
          ? error.violations.map((v) => `tick.${v.field}: ${v.reason}`).join("; ")
          : `tick: ${error.message}`
        return yield* GrpcStatus.invalidArgument(details, { [GrpcStatus.invalidFieldsKey]: fields.join(",") })
      }
      const commands = yield* processor.submit(decoded.right).pipe(
        Effect.mapError((error) => GrpcStatus.unavailable(`ticks topic unavailable: ${error.message}`))
      )
      return { commands: commands.map(OrderCommand.toProto) }
    }
    function* getSymbolStateSteps(symbol: string) {
      if (!SYMBOL_PATTERN.test(symbol)) {
        return yield* GrpcStatus.invalidArgument(
          `symbol: expected 1 to 12 characters of A-Z, 0-9 or '.', got ${JSON.stringify(symbol)}`,
          { [GrpcStatus.invalidFieldsKey]: "symbol" }
        )
      }
      const state = yield* processor.symbolState(symbol)
      if (Option.isNone(state)) return yield* GrpcStatus.notFound(`no tick of ${symbol} has been processed`)
      const summary = Strategy.summary(state.value, processor.strategy)
      return {
        symbol: summary.symbol,
        ticksSeen: summary.ticksSeen,
        lastPriceMicros: summary.lastPriceMicros,
        fastAverageMicros: summary.fastAverageMicros,
        slowAverageMicros: summary.slowAverageMicros,
        position: summary.position,
        commandsEmitted: summary.commandsEmitted
      }
    }
    return {
      processTick: GrpcService.unary((request) => Effect.gen(() => processTickSteps(request))),
      getSymbolState: GrpcService.unary(({ symbol }) => Effect.gen(() => getSymbolStateSteps(symbol)))
    }
  })
)
