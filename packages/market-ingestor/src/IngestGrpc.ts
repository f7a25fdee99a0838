// The gRPC ingest API for external feeds (trading.v1.MarketIngestorService). A tick is
// validated like every other source's; a bad one is refused with INVALID_ARGUMENT whose
// details and `invalid-fields` trailer name the fields (`tick.price_micros`). Clients do not
// choose `sequence` or `source`: the ingestor assigns them (`source` = `grpc:<peer>`).
import type { BusError } from "@trading/bus"
import { GrpcService, GrpcStatus } from "@trading/platform"
import type { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import {
  type IngestTickRequest,
  type IngestTicksRequest,
  MarketIngestorServiceService
} from "@trading/proto/gen/trading/v1/market_ingestor"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { fieldsOf, type InvalidTick } from "./IngestError.js"
import { TickPublisher } from "./TickPublisher.js"

/** Most ticks a streaming call publishes in one produce; a slow stream is flushed every 50 ms. */
const STREAM_BATCH = 500

const describe = (error: InvalidTick, prefix: string) =>
  error.error._tag === "InvalidFields"
    ? error.error.violations.map((v) => `${prefix}.${v.field}: ${v.reason}`).join("; ")
    : `${prefix}: ${error.error.message}`

const invalid = (error: InvalidTick, prefix: string, extra: Record<string, string> = {}) => {
  const fields = fieldsOf(error.error).map((f) => `${prefix}.${f}`)
  return GrpcStatus.invalidArgument(describe(error, prefix), {
    [GrpcStatus.invalidFieldsKey]: fields.length > 0 ? fields.join(",") : prefix,
    ...extra
  })
}

const unavailable = (error: BusError) => GrpcStatus.unavailable(`ticks topic unavailable: ${error.message}`)

const missingTick = (prefix: string) =>
  GrpcStatus.invalidArgument(`${prefix}: is missing`, { [GrpcStatus.invalidFieldsKey]: prefix })

/** The ingestor owns sequence and source; everything else is the client's, validated as sent. */
const candidate = (tick: ProtoTick, peer: string) => ({ ...tick, sequence: 0, source: `grpc:${peer}`.slice(0, 128) })

export const layer = GrpcService.layer(
  MarketIngestorServiceService,
  Effect.gen(function*() {
    const publisher = yield* TickPublisher
    // made once and given each call (and each chunk of a stream): a generator function made
    // anew per call would keep its ticks through scavenges until a full collection (ADR 0093)
    function* ingestTickSteps(request: IngestTickRequest, call: GrpcService.CallContext) {
      if (request.tick === undefined) return yield* missingTick("tick")
      const tick = yield* publisher.validate(candidate(request.tick, call.peer), {
        origin: "grpc",
        checkClock: true
      }).pipe(Effect.mapError((error) => invalid(error, "tick")))
      const [published] = yield* publisher.publish([tick]).pipe(Effect.mapError(unavailable))
      return { tickId: published!.tickId, sequence: published!.sequence }
    }
    /** One chunk of a stream; `progress` is the stream's, carried from chunk to chunk. */
    function* ingestChunkSteps(
      chunk: Chunk.Chunk<IngestTicksRequest>,
      call: GrpcService.CallContext,
      progress: { accepted: number; index: number }
    ) {
      const valid = []
      let refusal: GrpcStatus.GrpcStatusError | undefined
      for (const request of Chunk.toReadonlyArray(chunk)) {
        const prefix = `ticks[${progress.index}]`
        if (request.tick === undefined) {
          refusal = missingTick(prefix)
          break
        }
        const checked = yield* Effect.either(
          publisher.validate(candidate(request.tick, call.peer), { origin: "grpc", checkClock: true })
        )
        if (checked._tag === "Left") {
          refusal = invalid(checked.left, prefix)
          break
        }
        valid.push(checked.right)
        progress.index++
      }
      // what came before the bad tick is published; the response trailer says how much
      const done = yield* publisher.publish(valid).pipe(Effect.mapError(unavailable))
      progress.accepted += done.length
      if (refusal !== undefined) {
        return yield* GrpcStatus.invalidArgument(
          `${refusal.details} (${progress.accepted} earlier ticks of this stream were accepted)`,
          { ...refusal.metadata, accepted: String(progress.accepted) }
        )
      }
    }
    return {
      ingestTick: GrpcService.unary((request, call) => Effect.gen(() => ingestTickSteps(request, call))),
      ingestTicks: GrpcService.clientStream((requests, call) =>
        Effect.gen(function*() {
          const progress = { accepted: 0, index: 0 }
          yield* requests.pipe(
            Stream.groupedWithin(STREAM_BATCH, "50 millis"),
            Stream.runForEach((chunk) => Effect.gen(() => ingestChunkSteps(chunk, call, progress)))
          )
          return { accepted: progress.accepted }
        })
      )
    }
  })
)
