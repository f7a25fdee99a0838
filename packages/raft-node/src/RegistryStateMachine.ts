// The state machine this service replicates: the order registry (domain OrderRegistry,
// first writer wins, retention) plus the member directory (node id -> transport and client
// gRPC addresses), so address changes travel through the log like everything else.
//
// Log commands start with a kind byte: ORDERS + a RecordOrdersRequest (the domain's
// command), MEMBER_UPSERT + a JSON MemberAddress, MEMBER_REMOVE + a node id. Queries start
// with READ_ORDER + an order id and answer `trading.v1.ReadResponse` bytes.
import { Bytes, OrderRecord, OrderRegistry } from "@trading/domain"
import { ReadResponse } from "@trading/proto/gen/trading/v1/raft_node"
import type { StateMachine } from "@trading/raft"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { AddressBook, type MemberAddress } from "./AddressBook.js"

const ORDERS = 1
const MEMBER_UPSERT = 2
const MEMBER_REMOVE = 3
const READ_ORDER = 1

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The kind byte, then the parts one after the other, in one new array. */
const tagged = (kind: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array =>
  Bytes.concatFresh([Uint8Array.of(kind), ...parts])

export const ordersCommand = (records: ReadonlyArray<OrderRecord.OrderRecord>): Uint8Array =>
  tagged(ORDERS, OrderRegistry.encodeCommand(records))

/**
 * The same command from `RecordOrdersRequest` bytes (the records already encoded), given as
 * several requests: a message of one repeated field is the concatenation of its elements.
 * They are copied straight into the command, not joined into a buffer of their own first.
 */
export const ordersRequestCommand = (requests: ReadonlyArray<Uint8Array>): Uint8Array => tagged(ORDERS, ...requests)

export const memberUpsertCommand = (member: MemberAddress): Uint8Array =>
  tagged(MEMBER_UPSERT, encoder.encode(JSON.stringify(member)))

export const memberRemoveCommand = (nodeId: string): Uint8Array => tagged(MEMBER_REMOVE, encoder.encode(nodeId))

export const readQuery = (orderId: string): Uint8Array => tagged(READ_ORDER, encoder.encode(orderId))

interface SmState {
  /** Linear (ADR 0044): updated in place by apply; only this newest value is ever read. */
  readonly registry: OrderRegistry.State
  readonly directory: ReadonlyMap<string, MemberAddress>
  /** Index of the last command applied (config and no-op entries never reach the state machine). */
  readonly applied: number
}

/** What a snapshot is built from: taken where the node applies, serialized later elsewhere. */
interface Captured {
  readonly registry: OrderRegistry.Capture
  readonly directory: ReadonlyMap<string, MemberAddress>
  readonly applied: number
}

/**
 * Cheap (O(arena segments)) and consistent however many entries are applied afterwards,
 * until the scope closes: the registry then releases the capture and may reuse its memory.
 */
const capture = (s: SmState): Effect.Effect<Captured, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => ({ registry: OrderRegistry.capture(s.registry), directory: s.directory, applied: s.applied })),
    (captured) => Effect.sync(() => OrderRegistry.release(s.registry, captured.registry))
  )

// Snapshot: "RNSM" u8 version, f64 applied, u32 directory JSON length, directory JSON, registry snapshot.
const MAGIC = [0x52, 0x4e, 0x53, 0x4d]

/** The state machine's header (magic, version, applied index, member directory) before the registry's snapshot. */
const snapshotHeader = (s: Captured) => {
  const dir = encoder.encode(JSON.stringify([...s.directory.values()]))
  const header = new Uint8Array(17 + dir.length)
  const view = new DataView(header.buffer)
  header.set(MAGIC, 0)
  header[4] = 1
  view.setFloat64(5, s.applied)
  view.setUint32(13, dir.length)
  header.set(dir, 17)
  return header
}

/**
 * A captured state as the snapshot's parts: this machine's header, then the registry's parts,
 * views of its arena rather than a copy (ADR 0036): O(arena segments), however many orders.
 */
const serialize = (
  s: Captured
): ReadonlyArray<Uint8Array> => [snapshotHeader(s), ...OrderRegistry.snapshotParts(s.registry)]

const restoreOf = (bytes: Uint8Array): SmState => {
  if (bytes.length < 17 || MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] !== 1) {
    throw new Error("not a raft-node state machine snapshot")
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const applied = view.getFloat64(5)
  const dirLength = view.getUint32(13)
  const members = JSON.parse(decoder.decode(bytes.subarray(17, 17 + dirLength))) as Array<MemberAddress>
  const registry = OrderRegistry.restore(bytes.subarray(17 + dirLength))
  if (Either.isLeft(registry)) throw new Error(registry.left.message)
  return { registry: registry.right, directory: new Map(members.map((m) => [m.nodeId, m])), applied }
}

export interface RegistryStateMachine extends StateMachine {
  /** Index of the last applied command (see SmState.applied). */
  readonly applied: Effect.Effect<number>
  readonly orders: Effect.Effect<number>
  /** How many snapshots were restored, and the index of the last one. */
  readonly restores: Effect.Effect<{ readonly count: number; readonly index: number }>
}

export const make = (retention: OrderRegistry.Retention) =>
  Effect.gen(function*() {
    const book = yield* AddressBook
    // owned by the node's turn (the only caller of apply/restore); status readers read it too.
    // A plain variable, replaced whole on every change: `applyNow` runs for every entry
    let state: SmState = {
      registry: OrderRegistry.initial(retention),
      directory: new Map(),
      applied: 0
    }
    let restores = { count: 0, index: 0 }
    const empty = new Uint8Array(0)

    /** Orders are applied without an effect; directory changes also update the address book (an effect). */
    const applyNow = (command: Uint8Array, index: number): Uint8Array | undefined => {
      if (command[0] === ORDERS) {
        const [registry, result] = OrderRegistry.apply(state.registry, command.subarray(1), index)
        state = { ...state, registry, applied: index }
        return result
      }
      if (command[0] === MEMBER_UPSERT || command[0] === MEMBER_REMOVE) return undefined
      // unknown kinds are skipped identically on every replica
      state = { ...state, applied: index }
      return empty
    }

    const apply = (command: Uint8Array, index: number): Effect.Effect<Uint8Array> =>
      Effect.suspend(() => {
        const s = state
        const body = command.subarray(1)
        switch (command[0]) {
          case MEMBER_UPSERT: {
            const member = JSON.parse(decoder.decode(body)) as MemberAddress
            state = { ...s, directory: new Map(s.directory).set(member.nodeId, member), applied: index }
            return Effect.as(book.upsertDirectory(member), empty)
          }
          case MEMBER_REMOVE: {
            const nodeId = decoder.decode(body)
            const directory = new Map(s.directory)
            directory.delete(nodeId)
            state = { ...s, directory, applied: index }
            return Effect.as(book.removeDirectory(nodeId), empty)
          }
          default:
            return Effect.succeed(applyNow(command, index)!)
        }
      })

    const query = (q: Uint8Array): Effect.Effect<Uint8Array> =>
      Effect.sync(() => {
        const s = state
        const orderId = decoder.decode(q.subarray(1))
        const entry = OrderRegistry.lookup(s.registry, orderId)
        return ReadResponse.encode(
          Option.match(entry, {
            onNone: () => ({ found: false, record: undefined, index: 0 }),
            onSome: (e) => ({ found: true, record: OrderRecord.toProto(e.record), index: e.index })
          })
        ).finish()
      })

    const sm: RegistryStateMachine = {
      apply,
      applyNow,
      query,
      // outer: capture where the node applies (the state is linear, it must not be read later),
      // held in the node's scope; inner: the capture as parts (views, no copy), wherever and
      // whenever the runtime runs it, valid until the node closes the scope
      snapshot: Effect.suspend(() => capture(state)).pipe(
        Effect.map((captured) => Effect.sync(() => serialize(captured)))
      ),
      restore: (data) =>
        Effect.gen(function*() {
          const restored = restoreOf(data) // a corrupt snapshot is a defect: the node cannot go on
          state = restored
          restores = { count: restores.count + 1, index: restored.applied }
          yield* book.setDirectory([...restored.directory.values()])
          yield* Effect.logInfo("state machine restored from snapshot").pipe(
            Effect.annotateLogs({ appliedIndex: restored.applied, orders: OrderRegistry.size(restored.registry) })
          )
        }),
      applied: Effect.sync(() => state.applied),
      orders: Effect.sync(() => OrderRegistry.size(state.registry)),
      restores: Effect.sync(() => restores)
    }
    return sm
  })
