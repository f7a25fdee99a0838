// node --import tsx packages/cli/bench/scavenge-survivors.ts [--pretenuring]
//
// What V8's scavenges keep alive when a process makes many concurrent calls, by how the calls
// wait and where the waiting ones are kept (docs/benchmarks.md, eighteenth session; ADR 0098).
// Each variant runs in a child process of its own with `--trace-gc-nvp` (and
// `--no-allocation-site-pretenuring`, as the services run, unless --pretenuring): 600 calls a
// second for 12 s, each holding 100 order records for about 6 ms, and a loopback `net` echo
// server in the same process for the variants with socket traffic. Prints, per variant, the
// medians over its scavenges after the first 7 s (before that, code not yet optimized keeps
// more alive; the seventeenth session's figures were taken in that window): bytes that
// survived in the young generation, bytes promoted, and the pause.
//
// What it shows: a long-lived `Map` with an entry per call in flight (here the calls waiting
// for the echo) keeps every call's data alive through the scavenges, callbacks or fibers
// alike, once one of its tables has reached the old generation (`plainSocketSeeded` forces
// that; with fibers it happens by itself). V8 rehashes a `Map` into a new table as deletions
// pile up and leaves the old table holding its entries and a link to the next one; an old
// table is a root for the scavenger until a full collection. The Effect runtime's own `Set` of
// root fibers does the same on a smaller scale. `@trading/platform/InFlight` is the remedy.
import * as InFlight from "@trading/platform/InFlight"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

const variants = {
  plainSocket: "plain callbacks, each call a write to the echo server, answered by it",
  plainSocketSeeded: "the same, the Map of waiting calls' table promoted once at the start",
  fiberTimer: "an Effect.async fiber per call resumed by a timer, no socket traffic",
  fiberTimerSocket: "the same fibers, and each call also writes to the echo server",
  fiberSocket: "an Effect.async fiber per call resumed by the echo server's answer",
  fiberSocketInFlight: "the same, the waiting calls in an InFlight table instead of a Map",
  syncFiberSocket: "an Effect.sync fiber per call (done at once), the records held by a timer, socket writes",
  promiseSocket: "a promise per call resolved by a timer, socket writes"
} as const
type Variant = keyof typeof variants

const RATE = 600
const SECONDS = 12
const SKIP_MS = 7000

let seq = 0
const order = () => {
  seq++
  return {
    orderId: `bench-${seq}`,
    eventId: `bench-evt-${seq}`,
    commandId: `bench-cmd-${seq}`,
    status: "ACCEPTED" as const,
    reason: "",
    filledQuantity: 0,
    fillPriceMicros: 0,
    recordedAtUnixMs: Date.now()
  }
}

const ignore = () => {}

/** A bare `Map` as the table of waiting calls. */
const mapTable = () => {
  const map = new Map<number, () => void>()
  return {
    set: (id: number, answer: () => void) => void map.set(id, answer),
    take: (id: number) => {
      const answer = map.get(id)
      map.delete(id)
      return answer
    }
  }
}

/** The child: `RATE` calls a second of `variant` for `SECONDS`, then exits. */
const load = (variant: Variant, socket: net.Socket) => {
  // call id -> what the echo of that id answers
  const waiting = variant === "fiberSocketInFlight" ? InFlight.make<number, () => void>() : mapTable()
  if (variant === "plainSocketSeeded") {
    // a few entries set and deleted, then two full collections: the Map's table is promoted
    for (let id = 1; id <= 3; id++) waiting.set(-id, ignore)
    for (let id = 1; id <= 3; id++) waiting.take(-id)
    const gc = (globalThis as { gc?: () => void }).gc!
    gc()
    gc()
  }
  let pending = Buffer.alloc(0)
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    for (; pending.length >= 4; pending = pending.subarray(4)) waiting.take(pending.readUInt32LE(0))?.()
  })
  const write = (id: number, answer: () => void) => {
    const bytes = Buffer.alloc(4)
    bytes.writeUInt32LE(id, 0)
    waiting.set(id, answer)
    socket.write(bytes)
  }
  const call = (id: number) => {
    const records = Array.from({ length: 100 }, order)
    switch (variant) {
      case "plainSocket":
      case "plainSocketSeeded":
        return write(id, () => void records.length)
      case "fiberTimer":
        return Effect.runCallback(
          Effect.async<number>((resume) => void setTimeout(() => resume(Effect.succeed(records.length)), 6)),
          { onExit: ignore }
        )
      case "fiberTimerSocket":
        Effect.runCallback(
          Effect.async<number>((resume) => void setTimeout(() => resume(Effect.succeed(records.length)), 6)),
          { onExit: ignore }
        )
        return write(id, ignore)
      case "fiberSocket":
      case "fiberSocketInFlight":
        return Effect.runCallback(
          Effect.async<number>((resume) => write(id, () => resume(Effect.succeed(records.length)))),
          { onExit: ignore }
        )
      case "syncFiberSocket":
        Effect.runCallback(Effect.sync(() => records.length), { onExit: ignore })
        setTimeout(() => void records.length, 6)
        return write(id, ignore)
      case "promiseSocket":
        void new Promise<number>((resolve) => setTimeout(() => resolve(records.length), 6)).then(ignore)
        return write(id, ignore)
    }
  }
  const started = performance.now()
  let sent = 0
  const tick = () => {
    const elapsed = performance.now() - started
    if (elapsed > SECONDS * 1000) process.exit(0)
    for (const due = Math.floor((elapsed / 1000) * RATE); sent < due; sent++) call(sent + 1)
    setTimeout(tick, 2)
  }
  tick()
}

const child = (variant: Variant) => {
  // the echo server answers each 4-byte call id about 5 ms later
  const server = net.createServer((socket) =>
    socket.on("data", (chunk: Buffer) => void setTimeout(() => socket.write(chunk), 5))
  )
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    const socket = net.connect(port, "127.0.0.1", () => load(variant, socket))
  })
}

interface Scavenge {
  readonly atMs: number
  readonly survivedMb: number
  readonly promotedMb: number
  readonly pauseMs: number
}

/** The scavenges of one `--trace-gc-nvp` output (the main isolate's: the most numerous). */
const scavenges = (output: string): Array<Scavenge> => {
  const byIsolate = new Map<string, Array<Scavenge>>()
  for (const line of output.split("\n")) {
    const match = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: (.*)$/.exec(line)
    if (match === null || !match[3]!.includes(" gc=s ")) continue
    const fields = new Map(match[3]!.split(" ").map((pair) => pair.split("=") as [string, string]))
    const list = byIsolate.get(match[1]!) ?? []
    list.push({
      atMs: Number(match[2]),
      survivedMb: Number(fields.get("new_space_survived")) / 1e6,
      promotedMb: Number(fields.get("promoted")) / 1e6,
      pauseMs: Number(fields.get("pause"))
    })
    byIsolate.set(match[1]!, list)
  }
  return [...byIsolate.values()].sort((a, b) => b.length - a.length)[0] ?? []
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

const self = fileURLToPath(import.meta.url)

const runVariant = (variant: Variant, pretenuring: boolean) =>
  new Promise<Array<Scavenge>>((resolve, reject) => {
    const flags = ["--trace-gc-nvp", "--expose-gc", ...(pretenuring ? [] : ["--no-allocation-site-pretenuring"])]
    const process_ = spawn(process.execPath, [...flags, "--import", "tsx", self, "--child", variant], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let output = ""
    process_.stdout.on("data", (chunk) => (output += chunk))
    process_.once("error", reject)
    process_.once("exit", () => resolve(scavenges(output).filter((s) => s.atMs > SKIP_MS)))
  })

if (process.argv[2] === "--child") {
  child(process.argv[3] as Variant)
} else {
  const pretenuring = process.argv.includes("--pretenuring")
  console.log(
    `scavenges while ${RATE} calls/s each hold 100 records for about 6 ms (medians after ${SKIP_MS / 1000} s; ` +
      `allocation-site pretenuring ${pretenuring ? "on (V8's default)" : "off, as the services run"})\n`
  )
  console.log(
    `${"variant".padEnd(20)} ${"survived".padStart(9)} ${"promoted".padStart(9)} ${"pause".padStart(8)}  what`
  )
  for (const [variant, what] of Object.entries(variants) as Array<[Variant, string]>) {
    const seen = await runVariant(variant, pretenuring)
    const mb = (xs: Array<number>) => `${median(xs).toFixed(2)} MB`
    console.log(
      `${variant.padEnd(20)} ${mb(seen.map((s) => s.survivedMb)).padStart(9)} ${
        mb(seen.map((s) => s.promotedMb)).padStart(9)
      } ${`${median(seen.map((s) => s.pauseMs)).toFixed(1)} ms`.padStart(8)}  ${what}`
    )
  }
}
