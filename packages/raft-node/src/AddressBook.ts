// Where each node can be reached: its consensus transport address and its client gRPC
// address. The replicated member directory (applied from the log by the state machine) is
// authoritative; hints learned before it catches up (Join answers, the metadata of inbound
// transport streams) fill the gaps. Everything known is written to `members.json` in the
// data directory, so a restarted node can reach its peers before it has applied anything.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"

export interface MemberAddress {
  readonly nodeId: string
  readonly raftAddr: string
  readonly grpcAddr: string
}

interface Book {
  readonly directory: ReadonlyMap<string, MemberAddress>
  readonly hints: ReadonlyMap<string, MemberAddress>
}

export interface AddressBookApi {
  readonly get: (nodeId: string) => Effect.Effect<MemberAddress | undefined>
  /** `get` without an effect, for the Raft transport's sends (ADR 0095). */
  readonly lookup: (nodeId: string) => MemberAddress | undefined
  /** Replaces the replicated directory (after a snapshot restore). */
  readonly setDirectory: (members: ReadonlyArray<MemberAddress>) => Effect.Effect<void>
  readonly upsertDirectory: (member: MemberAddress) => Effect.Effect<void>
  readonly removeDirectory: (nodeId: string) => Effect.Effect<void>
  /** Addresses learned outside the log; ignored for ids the directory already has. */
  readonly hint: (member: MemberAddress) => Effect.Effect<void>
  readonly directory: Effect.Effect<ReadonlyArray<MemberAddress>>
}

const isMember = (u: unknown): u is MemberAddress =>
  typeof u === "object" && u !== null && typeof (u as MemberAddress).nodeId === "string" &&
  typeof (u as MemberAddress).raftAddr === "string" && typeof (u as MemberAddress).grpcAddr === "string"

const same = (a: MemberAddress | undefined, b: MemberAddress) =>
  a !== undefined && a.raftAddr === b.raftAddr && a.grpcAddr === b.grpcAddr

export class AddressBook extends Context.Tag("@trading/raft-node/AddressBook")<AddressBook, AddressBookApi>() {
  /** Backed by `<dataDir>/members.json` (created on first change). */
  static readonly layer = (dataDir: string): Layer.Layer<AddressBook> =>
    Layer.effect(
      AddressBook,
      Effect.gen(function*() {
        const file = path.join(dataDir, "members.json")
        const loaded = yield* Effect.sync(() => {
          try {
            const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as unknown
            return Array.isArray(parsed) ? parsed.filter(isMember) : []
          } catch {
            return [] // first start (or unreadable file): the log and Join answers refill it
          }
        })
        // replaced whole by each edit, never changed in place; a plain variable because the
        // transport reads it for every message it sends (`lookup`)
        let book: Book = {
          directory: new Map(),
          hints: new Map(loaded.map((m) => [m.nodeId, m]))
        }
        const save = Effect.sync(() => {
          const all = new Map(book.hints)
          for (const [id, m] of book.directory) all.set(id, m)
          fs.mkdirSync(dataDir, { recursive: true })
          const tmp = `${file}.tmp`
          fs.writeFileSync(tmp, JSON.stringify([...all.values()], null, 1))
          fs.renameSync(tmp, file)
        }).pipe(Effect.catchAllDefect((cause) => Effect.logWarning("could not save members.json", cause)))
        const edit = (f: (b: Book) => Book | undefined) =>
          Effect.suspend(() => {
            const next = f(book)
            if (next === undefined) return Effect.void
            book = next
            return save
          })
        const lookup = (nodeId: string) => book.directory.get(nodeId) ?? book.hints.get(nodeId)
        return {
          get: (nodeId) => Effect.sync(() => lookup(nodeId)),
          lookup,
          setDirectory: (members) => edit((b) => ({ ...b, directory: new Map(members.map((m) => [m.nodeId, m])) })),
          upsertDirectory: (member) =>
            edit((b) =>
              same(b.directory.get(member.nodeId), member)
                ? undefined
                : { ...b, directory: new Map(b.directory).set(member.nodeId, member) }
            ),
          removeDirectory: (nodeId) =>
            edit((b) => {
              if (!b.directory.has(nodeId) && !b.hints.has(nodeId)) return undefined
              const directory = new Map(b.directory)
              const hints = new Map(b.hints)
              directory.delete(nodeId)
              hints.delete(nodeId)
              return { directory, hints }
            }),
          hint: (member) =>
            edit((b) =>
              b.directory.has(member.nodeId) || same(b.hints.get(member.nodeId), member)
                ? undefined
                : { ...b, hints: new Map(b.hints).set(member.nodeId, member) }
            ),
          directory: Effect.sync(() => [...book.directory.values()])
        }
      })
    )
}
