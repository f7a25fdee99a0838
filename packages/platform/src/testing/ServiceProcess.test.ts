import { describe, expect, it } from "@effect/vitest"
import { envPairs } from "./ServiceProcess.js"

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
