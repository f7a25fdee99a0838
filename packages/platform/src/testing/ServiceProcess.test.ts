import { describe, expect, it } from "@effect/vitest"
import { envPairs, freePort } from "./ServiceProcess.js"

describe("freePort", () => {
  it("hands out distinct ports to concurrent callers", async () => {
    // as makeSpec does for several nodes at once: each caller asks for ports one after another
    const perCaller = await Promise.all(
      Array.from({ length: 4 }, async () => [await freePort(), await freePort(), await freePort()])
    )
    const ports = perCaller.flat()
    expect(new Set(ports).size).toBe(ports.length)
  })
})

describe("envPairs", () => {
  it("reads NAME=value pairs on a separator; a value keeps its own '='; pieces without '=' are ignored", () => {
    expect(envPairs("A=1  NODE_OPTIONS=--max-old-space-size=256 junk", /\s+/)).toEqual({
      A: "1",
      NODE_OPTIONS: "--max-old-space-size=256"
    })
    expect(envPairs("X=a b,Y=", ",")).toEqual({ X: "a b", Y: "" })
    expect(envPairs("", ",")).toEqual({})
  })
})
