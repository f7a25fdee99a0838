// Mutual TLS for the whole node (client API, Join, consensus transport) with certificates
// made by openssl at test time, and a bad configuration stopping the process.
import type { OrderRecord } from "@trading/domain"
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"
import { issueCertificate, makeCertificateAuthority } from "@trading/platform/testing/TestCertificates"
import { RaftClient } from "@trading/raft/client/index"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, grpcAddr, makeSpec, type NodeProcess, raftView, start, stop } from "./processes.js"

let dir = ""
const file = (name: string) => join(dir, name)
const nodes: Array<NodeProcess> = []

const tlsEnv = () => ({ GRPC_TLS_CERT: file("node.pem"), GRPC_TLS_KEY: file("node.key"), GRPC_TLS_CA: file("ca.pem") })

const order = (id: string): OrderRecord.OrderRecord => ({
  orderId: id,
  eventId: `evt-${id}`,
  commandId: `cmd-${id}`,
  status: "ACCEPTED",
  reason: "",
  filledQuantity: 0,
  fillPriceMicros: 0,
  recordedAtUnixMs: Date.now()
})

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "raft-node-tls-"))
  makeCertificateAuthority(dir, "ca")
  makeCertificateAuthority(dir, "rogue-ca")
  issueCertificate(dir, { name: "node", ca: "ca" })
  issueCertificate(dir, { name: "rogue", ca: "rogue-ca" })
})

afterAll(async () => {
  await Promise.all(nodes.map((n) => stop(n, "SIGKILL")))
  rmSync(dir, { recursive: true, force: true })
})

describe("raft-node security (real processes)", () => {
  it("runs a two-node cluster over mutual TLS; clients without a trusted certificate are refused", async () => {
    const secret = { RAFT_CLUSTER_SECRET: "tls-secret" }
    const a = await makeSpec("t1", join(dir, "data"), { ...tlsEnv(), ...secret })
    const b = await makeSpec("t2", join(dir, "data"), { ...tlsEnv(), ...secret })
    nodes.push(start(a, { RAFT_BOOTSTRAP: "true" }))
    nodes.push(start(b, { RAFT_JOIN_ADDR: grpcAddr(a) }))
    await nodes[1]!.waitFor((l) => l.message === "joined the cluster", "join over TLS", 60_000)
    await eventually(
      "both healthy with two voters",
      async () => {
        const views = await Promise.all(nodes.map(async (n) => {
          const h = await n.healthz()
          return h.status === 200 ? raftView(h.body) : undefined
        }))
        return views.every((v) => v?.members.filter((m) => m.voter).length === 2) ? true : undefined
      },
      30_000,
      100
    )
    expect(nodes[0]!.lines().find((l) => l.message === "gRPC server listening")?.annotations["tls"]).toBe(true)

    const withClient = <A, E>(
      tls: RaftClient.RaftClientOptions["tls"],
      f: (c: RaftClient.RaftClient) => Effect.Effect<A, E>
    ) =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(
        RaftClient.make({ seeds: [grpcAddr(b)], tls, deadline: "3 seconds" }),
        f
      )))

    const trusted = { cert: file("node.pem"), key: file("node.key"), ca: Option.some(file("ca.pem")) }
    const outcome = await withClient(trusted, (c) => c.record(order("tls-1")))
    expect(outcome.created).toBe(true)
    const found = await withClient(trusted, (c) => c.read("tls-1"))
    expect(Option.isSome(found)).toBe(true)

    const plaintext = await withClient("insecure", (c) => Effect.flip(c.record(order("tls-2"))))
    expect(plaintext._tag).toBe("RaftUnavailable")
    const rogue = { cert: file("rogue.pem"), key: file("rogue.key"), ca: Option.some(file("ca.pem")) }
    const refused = await withClient(rogue, (c) => Effect.flip(c.record(order("tls-3"))))
    expect(refused._tag).toBe("RaftUnavailable")
    // nothing from the refused clients was recorded
    const missing = await withClient(trusted, (c) => c.read("tls-2"))
    expect(Option.isNone(missing)).toBe(true)
  })

  it("stops with exit code 1 naming each invalid variable", () => {
    const result = spawnSync(process.execPath, [...ServiceProcess.service("raft-node").argv], {
      cwd: ServiceProcess.repoRoot,
      env: {
        PATH: process.env.PATH ?? "",
        RAFT_BIND_ADDR: "nowhere",
        RAFT_BOOTSTRAP: "perhaps",
        PORT_HTTP: "0",
        PORT_GRPC: "0"
      },
      encoding: "utf8",
      timeout: 60_000
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain("raft-node: invalid configuration")
    for (const name of ["RAFT_NODE_ID", "RAFT_BIND_ADDR", "RAFT_BOOTSTRAP"]) expect(result.stderr).toContain(name)
  })
})
