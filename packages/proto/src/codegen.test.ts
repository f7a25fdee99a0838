import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Tick } from "./gen/trading/v1/market.js"
import { OrderCommand, Side } from "./gen/trading/v1/orders.js"
import { descriptorSetPath } from "./index.js"

describe("generated protobuf code", () => {
  it("matches proto/ (run `pnpm proto` after editing a .proto)", () => {
    const script = fileURLToPath(new URL("../scripts/check-stale.mjs", import.meta.url))
    // throws with the script's stderr (the stale files) when it exits non-zero
    const out = execFileSync(process.execPath, [script], { encoding: "utf8" })
    expect(out).toContain("up to date")
  })

  it("round-trips a tick and a command through the wire format", () => {
    const tick = Tick.fromPartial({
      schemaVersion: 1,
      tickId: "t-1",
      symbol: "ACME",
      priceMicros: 101_250_000,
      size: 10
    })
    expect(Tick.decode(Tick.encode(tick).finish())).toEqual(tick)
    const cmd = OrderCommand.fromPartial({ orderId: "o-1", side: Side.SIDE_SELL, quantity: 5 })
    expect(OrderCommand.decode(OrderCommand.encode(cmd).finish())).toEqual(cmd)
  })

  it("ships the descriptor set used by server reflection", () => {
    expect(existsSync(descriptorSetPath)).toBe(true)
  })
})
