// The consensus transport over gRPC (raft.v1.RaftTransportService/Stream), a drop-in for
// the in-memory network: it implements @trading/raft's `Transport`.
//
// Raft messages are one-way. Each node keeps one long-lived client stream per peer and
// writes messages in order without waiting for answers, so appends are pipelined (the core
// bounds the window with maxInflight); replies come back on the peer's own stream to us.
// Delivery is best effort, as Raft expects: a broken stream is dropped and reopened by the
// next send, a peer whose buffer is full loses messages instead of stalling the node.
//
// Stream metadata names the sender (id, transport and gRPC address) so the receiver can
// answer a node it has not learned about from the log yet (a joining learner), and, when
// a cluster secret is configured, carries a token derived from it: streams without it are
// refused with UNAUTHENTICATED.
import * as grpc from "@grpc/grpc-js"
import type { TlsPaths } from "@trading/platform/ServerConfig"
import { RaftTransportServiceService, type StreamRequest } from "@trading/proto/gen/raft/v1/raft"
import { type Message, type NodeId, Transport, type TransportApi, Wire } from "@trading/raft"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { createHash, timingSafeEqual } from "node:crypto"
import { readFileSync } from "node:fs"
import { AddressBook, type MemberAddress } from "./AddressBook.js"

export class TransportError
  extends Data.TaggedError("TransportError")<{ readonly op: string; readonly cause: unknown }>
{
  override get message(): string {
    return `raft transport ${this.op} failed: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface GrpcTransportOptions {
  readonly self: MemberAddress
  readonly bindAddr: string
  readonly clusterSecret: Option.Option<Redacted.Redacted<string>>
  readonly tls: Option.Option<TlsPaths>
  /** Bytes buffered per peer stream before further messages are dropped (default 64 MiB). */
  readonly maxBufferedBytes?: number | undefined
}

/** Stream metadata carrying `clusterToken` of the cluster secret. */
export const TOKEN_KEY = "raft-cluster-token"

/** A token derived from the secret; the secret itself never travels. */
export const clusterToken = (secret: Redacted.Redacted<string>): string =>
  createHash("sha256").update(`raft-transport:${Redacted.value(secret)}`).digest("hex")

const tokensMatch = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

// Restarted peers must be reached within an election timeout, not after grpc-js's default
// reconnect backoff (which grows to two minutes).
export const channelOptions: grpc.ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 50,
  "grpc.min_reconnect_backoff_ms": 50,
  "grpc.max_reconnect_backoff_ms": 500,
  "grpc.max_send_message_length": -1,
  "grpc.max_receive_message_length": -1,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000
}

const serverCredentials = (tls: Option.Option<TlsPaths>) =>
  Option.match(tls, {
    onNone: () => grpc.ServerCredentials.createInsecure(),
    onSome: (t) =>
      grpc.ServerCredentials.createSsl(
        Option.getOrNull(Option.map(t.ca, (p) => readFileSync(p))),
        [{ private_key: readFileSync(t.key), cert_chain: readFileSync(t.cert) }],
        Option.isSome(t.ca)
      )
  })

export const clientCredentials = (tls: Option.Option<TlsPaths>) =>
  Option.match(tls, {
    onNone: () => grpc.credentials.createInsecure(),
    onSome: (t) =>
      grpc.credentials.createSsl(
        Option.getOrNull(Option.map(t.ca, (p) => readFileSync(p))),
        readFileSync(t.key),
        readFileSync(t.cert)
      )
  })

interface Peer {
  readonly addr: string
  readonly client: grpc.Client
  /** Written already encoded (see `sendNow`). */
  call: grpc.ClientWritableStream<Buffer> | undefined
}

export interface GrpcTransport extends TransportApi {
  /** The bound transport port. */
  readonly port: number
}

export const make = (
  options: GrpcTransportOptions
): Effect.Effect<GrpcTransport, TransportError, Scope.Scope | AddressBook> =>
  Effect.gen(function*() {
    const book = yield* AddressBook
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const self = options.self
    const token = Option.map(options.clusterSecret, clusterToken)
    const maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024
    /** The node's receiver (Transport.receive), while it is registered. */
    let deliver: ((message: Message) => void) | undefined
    let warnedDecode = 0

    // --- receiving ---------------------------------------------------------------------------
    const handler: grpc.handleClientStreamingCall<StreamRequest, { received: number }> = (call, callback) => {
      const meta = (key: string) => {
        const v = call.metadata.get(key)[0]
        return typeof v === "string" ? v : undefined
      }
      if (Option.isSome(token) && !tokensMatch(meta(TOKEN_KEY) ?? "", token.value)) {
        runFork(
          Effect.logWarning("raft transport stream refused: wrong or missing cluster secret").pipe(
            Effect.annotateLogs({ peer: call.getPeer(), from: meta("raft-from") ?? "" })
          )
        )
        callback({ code: grpc.status.UNAUTHENTICATED, details: "wrong or missing cluster secret" })
        return
      }
      const from = meta("raft-from")
      const raftAddr = meta("raft-from-addr")
      const grpcAddr = meta("raft-from-grpc")
      if (from !== undefined && raftAddr !== undefined && grpcAddr !== undefined) {
        runFork(book.hint({ nodeId: from, raftAddr, grpcAddr }))
      }
      // Headers now, not with the status at the stream's end: a grpc-js client keeps every
      // message it wrote (for a transparent retry) until the server's headers commit the
      // call, up to 256 KiB of messages per stream, each pinning the 8 KiB pool slab its bytes
      // were cut from. On a follower, whose responses are small, that held 15-20 MB (a heap
      // snapshot at 10,000 ticks/s in bench:pipeline: 2,044 buffers, 16.7 MB).
      call.sendMetadata(new grpc.Metadata())
      let received = 0
      call.on("data", (request: StreamRequest) => {
        received++
        if (request.message === undefined) return
        const decoded = Wire.fromProto(request.message)
        if (Either.isLeft(decoded)) {
          if (warnedDecode++ < 10) {
            runFork(Effect.logWarning("dropped an invalid raft message", decoded.left))
          }
          return
        }
        if (decoded.right.to !== self.nodeId || deliver === undefined) return
        deliver(decoded.right)
      })
      call.on("end", () => callback(null, { received }))
      call.on("error", () => {/* the peer went away; it reconnects by itself */})
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new grpc.Server({
          "grpc.max_receive_message_length": -1,
          "grpc.max_send_message_length": -1
        })
      ),
      // peers' streams never end by themselves: the consensus transport does not drain
      (server) => Effect.sync(() => server.forceShutdown())
    )
    server.addService(RaftTransportServiceService, { stream: handler })
    const creds = yield* Effect.try({
      try: () => serverCredentials(options.tls),
      catch: (cause) => new TransportError({ op: "reading TLS files", cause })
    })
    const port = yield* Effect.async<number, TransportError>((resume) =>
      server.bindAsync(options.bindAddr, creds, (error, port) =>
        resume(
          error
            ? Effect.fail(new TransportError({ op: `binding ${options.bindAddr}`, cause: error }))
            : Effect.succeed(port)
        ))
    )
    yield* Effect.logInfo("raft transport listening").pipe(
      Effect.annotateLogs({ bindAddr: options.bindAddr, advertiseAddr: self.raftAddr, port })
    )

    // --- sending -------------------------------------------------------------------------------
    const channelCreds = yield* Effect.try({
      try: () => clientCredentials(options.tls),
      catch: (cause) => new TransportError({ op: "reading TLS files", cause })
    })
    const peers = new Map<NodeId, Peer>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const peer of peers.values()) {
          peer.call?.end()
          peer.client.close()
        }
        peers.clear()
      })
    )

    const metadata = new grpc.Metadata()
    metadata.set("raft-from", self.nodeId)
    metadata.set("raft-from-addr", self.raftAddr)
    metadata.set("raft-from-grpc", self.grpcAddr)
    if (Option.isSome(token)) metadata.set(TOKEN_KEY, token.value)

    const peerFor = (id: NodeId, addr: string): Peer => {
      const known = peers.get(id)
      if (known !== undefined && known.addr === addr) return known
      if (known !== undefined) {
        known.call?.end()
        known.client.close()
      }
      const peer: Peer = { addr, client: new grpc.Client(addr, channelCreds, channelOptions), call: undefined }
      peers.set(id, peer)
      return peer
    }

    const open = (peer: Peer) => {
      const m = RaftTransportServiceService.stream
      const call = peer.client.makeClientStreamRequest<Buffer, unknown>(
        m.path,
        (encoded: Buffer) => encoded,
        m.responseDeserialize,
        metadata,
        {},
        (error) => {
          // the stream ended (peer gone, refused, or closed): the next send opens a new one
          if (peer.call === call) peer.call = undefined
          if (error?.code === grpc.status.UNAUTHENTICATED) {
            runFork(Effect.logWarning("raft peer refused our stream: cluster secret mismatch"))
          }
        }
      )
      call.on("error", () => {/* reported through the callback */})
      peer.call = call
      return call
    }

    const sendNow = (message: Message): void => {
      const address = book.lookup(message.to)
      if (address === undefined) return // unknown peer: Raft retries, the address arrives via log or hints
      const peer = peerFor(message.to, address.raftAddr)
      const call = peer.call ?? open(peer)
      if (call.writableLength > maxBuffered) return // slow peer: drop, Raft resends
      // Encoded here, not when grpc-js gets to it: a message it buffers would keep views of
      // the log's entry bytes, which the node reuses after a compaction (Transport, ADR 0100).
      call.write(RaftTransportServiceService.stream.requestSerialize({ message: Wire.toProto(message) }))
    }

    const transport: GrpcTransport = {
      port,
      send: (message) => Effect.sync(() => sendNow(message)),
      sendNow,
      receive: (id, receiver) =>
        Effect.acquireRelease(
          id === self.nodeId
            ? Effect.sync(() => {
              deliver = receiver
            })
            : Effect.dieMessage(`this transport serves ${self.nodeId}, not ${id}`),
          () =>
            Effect.sync(() => {
              if (deliver === receiver) deliver = undefined
            })
        )
    }
    return transport
  })

export const layer = (options: GrpcTransportOptions): Layer.Layer<Transport, TransportError, AddressBook> =>
  Layer.scoped(Transport, make(options))
