// Reading a grpc-js readable call as a Stream with backpressure. Unlike
// `Stream.fromAsyncIterable`, an interrupted consumer never waits on a pending `next()`
// promise (which would keep the scope, and the call's cancellation, from closing).
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { EventEmitter } from "node:events"

type Readable = EventEmitter & { pause(): unknown; resume(): unknown }

const ignore = () => {}

export const fromReadable = <A, E>(readable: Readable, onError: (error: Error) => E): Stream.Stream<A, E> =>
  Stream.async<A, E>((emit) => {
    const onData = (data: unknown) => {
      // hold the socket while the consumer's buffer is full
      readable.pause()
      void emit.single(data as A).then(() => readable.resume())
    }
    const onEnd = () => void emit.end()
    const onFailure = (error: Error) => void emit.fail(onError(error))
    readable.on("data", onData)
    readable.on("end", onEnd)
    readable.on("error", onFailure)
    return Effect.sync(() => {
      readable.off("data", onData)
      readable.off("end", onEnd)
      readable.off("error", onFailure)
      // a cancelled call still emits its CANCELLED error: without a listener Node would throw it
      readable.on("error", ignore)
    })
  }, 16)
