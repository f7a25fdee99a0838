import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as LoopbackPorts from "./LoopbackPorts.js"

/** Holds `port` for the test's scope; the test needs it held. */
const listenOn = (port: number) =>
  Effect.flatMap(
    LoopbackPorts.hold(port),
    (server) => server === undefined ? Effect.dieMessage(`port ${port} was taken`) : Effect.succeed(server)
  )

describe("LoopbackPorts", () => {
  it("chooses from the wider side outside the ephemeral range", () => {
    expect(LoopbackPorts.band({ low: 32_768, high: 60_999 })).toEqual({ low: 10_000, high: 32_767 })
    expect(LoopbackPorts.band({ low: 49_152, high: 65_535 })).toEqual({ low: 10_000, high: 49_151 })
    expect(LoopbackPorts.band({ low: 1_024, high: 40_000 })).toEqual({ low: 40_001, high: 65_535 })
    const ephemeral = LoopbackPorts.ephemeralRange()
    const band = LoopbackPorts.band()
    expect(band.high < ephemeral.low || band.low > ephemeral.high).toBe(true)
  })

  it.scoped("returns distinct ports of the range, skipping one that is taken, and wraps around", () =>
    Effect.gen(function*() {
      const [first] = yield* LoopbackPorts.reserve(1)
      const taken = yield* listenOn(first!)
      const range = { low: first!, high: first! + 3 }
      // starting at the taken port: it is skipped, the next three follow, none twice
      const ports = yield* LoopbackPorts.reserve(3, range, first!)
      expect(ports).toEqual([first! + 1, first! + 2, first! + 3])
      // starting at the end of the range wraps around to its start
      expect(yield* LoopbackPorts.reserve(2, range, first! + 3)).toEqual([first! + 3, first! + 1])
      expect(taken.listening).toBe(true)
    }))

  it.scoped("fails naming the range when it has fewer free ports than asked for", () =>
    Effect.gen(function*() {
      const [port] = yield* LoopbackPorts.reserve(1)
      yield* listenOn(port!)
      const error = yield* Effect.flip(LoopbackPorts.reserve(1, { low: port!, high: port! }))
      expect(error.message).toBe(`only 0 of 1 free loopback ports in ${port}-${port}`)
    }))
})
