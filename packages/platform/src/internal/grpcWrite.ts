// Writing to a grpc-js stream with backpressure: wait for "drain" when `write` says the
// buffer is full, so a fast producer cannot grow memory without bound.
import * as Effect from "effect/Effect"

interface Writable {
  write(message: unknown): boolean
  once(event: "drain", listener: () => void): unknown
  off(event: "drain", listener: () => void): unknown
}

export const write = (stream: Writable, message: unknown): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (stream.write(message)) {
      resume(Effect.void)
      return
    }
    const onDrain = () => resume(Effect.void)
    stream.once("drain", onDrain)
    return Effect.sync(() => stream.off("drain", onDrain))
  })
