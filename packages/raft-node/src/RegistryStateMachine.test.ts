import { describe, expect, it } from "@effect/vitest"
import type { OrderRecord } from "@trading/domain"
import { Bytes, OrderRegistry } from "@trading/domain"
import { ReadResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AddressBook } from "./AddressBook.js"
import * as Sm from "./RegistryStateMachine.js"

const record = (id: string, status: OrderRecord.OrderRecord["status"] = "ACCEPTED"): OrderRecord.OrderRecord => ({
  orderId: id,
  eventId: `evt-${id}`,
  commandId: `cmd-${id}`,
  status,
  reason: status === "REJECTED" ? "no" : "",
  filledQuantity: 0,
  fillPriceMicros: 0,
  recordedAtUnixMs: 1_800_000_000_000
})

const withBook = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provide(effect, AddressBook.layer(mkdtempSync(join(tmpdir(), "rsm-"))))

describe("RegistryStateMachine", () => {
  it.effect("first writer wins, reads answer the canonical record", () =>
    withBook(Effect.gen(function*() {
      const sm = yield* Sm.make(OrderRegistry.defaultRetention)
      yield* sm.apply(Sm.ordersCommand([record("a")]), 5)
      const again = OrderRegistry.decodeResult(yield* sm.apply(Sm.ordersCommand([record("a", "REJECTED")]), 6))
      expect(again._tag === "Right" && again.right[0]).toMatchObject({ created: false, index: 5, record: record("a") })
      const read = ReadResponse.decode(yield* sm.query(Sm.readQuery("a")))
      expect(read).toMatchObject({ found: true, index: 5 })
      expect(ReadResponse.decode(yield* sm.query(Sm.readQuery("b"))).found).toBe(false)
      expect(yield* sm.applied).toBe(6)
    })))

  it("a command from several requests' bytes is the command of all their records", () => {
    const [a, b, c] = [record("a"), record("b", "REJECTED"), record("c")]
    const requests = [OrderRegistry.encodeCommand([a]), OrderRegistry.encodeCommand([b, c])]
    expect(Sm.ordersRequestCommand(requests)).toEqual(Sm.ordersCommand([a, b, c]))
    expect(Sm.ordersRequestCommand([requests[0]!])).toEqual(Sm.ordersCommand([a]))
  })

  it.scoped("a snapshot (captured, then serialized) carries orders, the member directory and the applied index", () =>
    withBook(Effect.gen(function*() {
      const book = yield* AddressBook
      const sm = yield* Sm.make(OrderRegistry.defaultRetention)
      yield* sm.apply(Sm.ordersCommand([record("a"), record("b")]), 3)
      yield* sm.apply(Sm.memberUpsertCommand({ nodeId: "n2", raftAddr: "h:7001", grpcAddr: "h:50071" }), 4)
      expect(yield* book.get("n2")).toEqual({ nodeId: "n2", raftAddr: "h:7001", grpcAddr: "h:50071" })
      const serialize = yield* sm.snapshot
      // applied after the capture: not part of the snapshot, even though serializing runs later
      yield* sm.apply(Sm.ordersCommand([record("c")]), 5)
      const bytes = yield* serialize

      const other = yield* Sm.make(OrderRegistry.defaultRetention).pipe(
        Effect.provide(AddressBook.layer(mkdtempSync(join(tmpdir(), "rsm-"))))
      )
      yield* other.restore(Bytes.concat(bytes)).pipe(Effect.provide(Layer.empty))
      expect(yield* other.orders).toBe(2)
      expect(yield* other.applied).toBe(4)
      expect(Bytes.concat(yield* Effect.flatten(other.snapshot))).toEqual(Bytes.concat(bytes))

      yield* sm.apply(Sm.memberRemoveCommand("n2"), 7)
      expect(yield* book.get("n2")).toBeUndefined()
    })))

  it.scoped("a captured snapshot keeps the orders evicted by entries applied after the capture", () =>
    withBook(Effect.gen(function*() {
      const small = Either.getOrThrow(OrderRegistry.makeRetention({ maxOrders: 2 }))
      const sm = yield* Sm.make(small)
      yield* sm.apply(Sm.ordersCommand([record("a"), record("b")]), 1)
      const serialize = yield* sm.snapshot
      // the registry is updated in place: these evict a and b from the live state
      yield* sm.apply(Sm.ordersCommand([record("c"), record("d")]), 2)
      expect(ReadResponse.decode(yield* sm.query(Sm.readQuery("a"))).found).toBe(false)
      const bytes = Bytes.concat(yield* serialize)
      const other = yield* Sm.make(small)
      yield* other.restore(bytes)
      expect(yield* other.applied).toBe(1)
      expect(ReadResponse.decode(yield* other.query(Sm.readQuery("a")))).toMatchObject({ found: true, index: 1 })
      expect(ReadResponse.decode(yield* other.query(Sm.readQuery("b"))).found).toBe(true)
      expect(ReadResponse.decode(yield* other.query(Sm.readQuery("c"))).found).toBe(false)
    })))
})
