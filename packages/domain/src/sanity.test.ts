import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

it.effect("runs effects", () =>
  Effect.gen(function*() {
    expect(yield* Effect.succeed(1)).toBe(1)
  }))
