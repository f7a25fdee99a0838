// Real child processes for integration tests and benchmarks: a service started from its
// bundle (`packages/<service>/dist/main.mjs`, built by infra/bundle.mjs, ADR 0052) or a
// TypeScript script under tsx, with its JSON log lines collected from stdout.
//
// The process is `node` itself, never a wrapper (the tsx CLI, pnpm, a shell): a wrapper
// only relays signals, so `kill -9` would hit the wrapper and leave the service running,
// and a relayed SIGTERM can arrive twice (the second, after runMain removed its handler,
// kills the service with code 143). Signals sent here reach the service process.
//
// Only PATH and the given variables are in the child's environment, so a test's settings
// never leak in from the developer's shell.
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as LoopbackPorts from "../LoopbackPorts.js"

export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

export type ServiceName = "market-ingestor" | "stream-processor" | "order-executor" | "raft-node" | "cli"

/**
 * The node flags every service runs with, here and in the `start` scripts (ADR 0053;
 * infra/node-flags.test.ts keeps the two in line): a young generation capped at 4 MiB per
 * semi-space instead of V8's 16 MiB, which under load saves 15-25 MB of RSS per process for
 * no measurable CPU; collection on the main thread only, which on a host shared by more
 * processes than cores cuts GC stalls (ADR 0053, update); no allocation-site pretenuring,
 * which cut the raft-nodes' scavenge time by about 30 % and their full collections by a
 * third (ADR 0053, second update). The raft-node's young generation is 1 MiB per semi-space
 * instead of 4 (`nodeFlagsFor`, ADR 0101).
 */
export const nodeFlags: ReadonlyArray<string> = [
  "--max-semi-space-size=4",
  "--heap-growing-percent=30",
  "--single-threaded-gc",
  "--no-allocation-site-pretenuring"
]

/**
 * The flags of one service. The raft-node's young generation is 1 MiB per semi-space: V8
 * starts a full collection once the old generation's room, less what the process's array
 * buffers grew by since the last one, falls below the young generation's size, and a loaded
 * raft-node allocates buffers (gRPC messages, log writes) by the MB between two scavenges,
 * which free them. Scavenging four times as often keeps that swing small: at 65,000
 * orders/s the leader ran 9-10 full collections a run instead of 22-29 (ADR 0101). Its
 * scavenges keep almost nothing (0.04-0.06 MB), so more of them cost little.
 */
export const nodeFlagsFor = (name: ServiceName): ReadonlyArray<string> =>
  name === "raft-node"
    ? nodeFlags.map((flag) => flag.startsWith("--max-semi-space-size=") ? "--max-semi-space-size=1" : flag)
    : nodeFlags

/**
 * The environment every service runs with, here, in the `start` scripts and in the raft
 * cluster launcher (ADR 0053, update): glibc's malloc with a fixed mmap threshold. By default
 * the threshold rises to the size of the largest block freed (up to 32 MiB), after which the
 * 1 MiB registry segments, Kafka fetch and gRPC buffers come from the heap, whose free space is
 * rarely given back; fixed at 128 KiB, such blocks are mapped and unmapped. 5-12 MB less RSS
 * per service under load. Other C libraries ignore it.
 */
export const nodeEnv: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: "131072" }

/** The bundle of a service (`pnpm build`, or the integration tests' global setup, writes it). */
export const bundlePath = (service: ServiceName) => `${repoRoot}packages/${service}/dist/main.mjs`

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly timestamp: string
  readonly annotations: Record<string, unknown>
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface ServiceProcess {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Everything the process wrote: stdout, then stderr. */
  readonly output: () => string
  /** The JSON lines of stdout so far (other lines, like console traces, are skipped). */
  readonly lines: () => ReadonlyArray<LogLine>
  /** The first log line matching `predicate`; fails when the process exits first or on timeout. */
  readonly waitFor: (predicate: (line: LogLine) => boolean, what: string, timeoutMs?: number) => Promise<LogLine>
  /** The first log line with this message. */
  readonly waitForMessage: (message: string, timeoutMs?: number) => Promise<LogLine>
  /** Resolves once stdout contains `text` anywhere. */
  readonly waitForText: (text: string, timeoutMs?: number) => Promise<void>
  readonly exited: Promise<Exit>
  readonly running: () => boolean
  /** Sends `signal` (if still running) and waits for the exit. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<Exit>
}

export interface Command {
  readonly name: string
  readonly argv: ReadonlyArray<string>
  /** Environment the command always runs with (below what the caller passes). */
  readonly env?: Readonly<Record<string, string>>
}

/** A service from its bundle. */
export const service = (name: ServiceName, args: ReadonlyArray<string> = []): Command => {
  const path = bundlePath(name)
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`pnpm build\` (or \`node infra/bundle.mjs ${name}\`)`)
  }
  return { name, argv: [...nodeFlagsFor(name), path, ...args], env: nodeEnv }
}

/** A TypeScript file (path from the repository root) run under tsx: test fixtures, tools. */
export const script = (path: string, args: ReadonlyArray<string> = []): Command => ({
  name: path,
  argv: ["--import", "tsx", `${repoRoot}${path}`, ...args]
})

const DEFAULT_TIMEOUT_MS = 60_000

export const start = (command: Command, env: Record<string, string> = {}): ServiceProcess => {
  const child = spawn(process.execPath, [...command.argv], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", ...command.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  let parsed: Array<LogLine> = []
  let parsedUpTo = 0
  const waiters = new Set<() => void>()
  const wakeAll = () => waiters.forEach((wake) => wake())
  child.stdout!.on("data", (chunk) => {
    stdout += chunk
    wakeAll()
  })
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<Exit>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal })
      wakeAll()
    })
  )
  const running = () => child.exitCode === null && child.signalCode === null
  const output = () => `${stdout}\n${stderr}`
  // the tail of both streams, for failure messages
  const tail = () => `stdout:\n${stdout.slice(-8000)}\nstderr:\n${stderr.slice(-4000)}`

  // complete lines only (a chunk may end in the middle of one), parsed once each
  const lines = () => {
    const end = stdout.lastIndexOf("\n") + 1
    if (end > parsedUpTo) {
      const fresh = stdout.slice(parsedUpTo, end).split("\n").filter((l) => l.startsWith("{"))
      parsed = [...parsed, ...fresh.map((l) => JSON.parse(l) as LogLine)]
      parsedUpTo = end
    }
    return parsed
  }

  /** Resolves with `probe()`'s first defined value, re-checked on every output and on exit. */
  const until = <A>(probe: () => A | undefined, what: string, timeoutMs: number) =>
    new Promise<A>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      const check = () => {
        const found = probe()
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (!running()) {
          done()
          reject(new Error(`${command.name} exited before ${what}\n${tail()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${command.name}: no ${what} within ${timeoutMs} ms\n${tail()}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })

  const waitFor = (predicate: (line: LogLine) => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS) =>
    until(() => lines().find(predicate), what, timeoutMs)

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (running()) child.kill(signal)
    return exited
  }

  return {
    name: command.name,
    process: child,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    output,
    lines,
    waitFor,
    waitForMessage: (message, timeoutMs) => waitFor((l) => l.message === message, `"${message}"`, timeoutMs),
    waitForText: (text, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      until(() => (stdout.includes(text) ? true : undefined), `"${text}"`, timeoutMs).then(() => undefined),
    exited,
    running,
    stop
  }
}

/**
 * Test ports come from a slice of the band of LoopbackPorts (outside the kernel's ephemeral
 * range, so a node restarting on its port never finds it taken by a PORT_GRPC=0 service or a
 * connection's local end), one slice per vitest worker, so test files running side by side
 * never pick the same port. Within a worker, a cursor walks the slice, so a port is not
 * handed out again until the slice wraps around.
 */
const SLICES = 16
const slice = (() => {
  const band = LoopbackPorts.band()
  const width = Math.floor(LoopbackPorts.size(band) / SLICES)
  const index = Number(process.env.VITEST_POOL_ID ?? 0) % SLICES
  const low = band.low + index * width
  return { low, high: low + width - 1 }
})()
// Starts at a random place so that processes one after another (benchmarks, test files in
// one worker) do not walk the same ports.
let cursor = slice.low + Math.floor(Math.random() * LoopbackPorts.size(slice))

// Calls run one after the other: concurrent ones (`Promise.all` over specs) would all start
// at the same cursor, find the same port free and hand it out twice.
let previous: Promise<unknown> = Promise.resolve()

/** A loopback port nobody listens on right now, not handed out before by this process. */
export const freePort = (): Promise<number> => {
  const next = previous.then(async () => {
    const [port] = await Effect.runPromise(LoopbackPorts.reserve(1, slice, cursor))
    cursor = port! + 1 > slice.high ? slice.low : port! + 1
    return port!
  })
  previous = next.catch(() => undefined)
  return next
}

/**
 * Whether GET /healthz on 127.0.0.1:`port` answers 200: true, or undefined (for
 * `eventually`) when it answers otherwise or nothing listens yet.
 */
export const healthzOk = async (port: number): Promise<true | undefined> => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 || undefined
  } catch {
    return undefined
  }
}

/**
 * Polls `probe` every `everyMs` until it returns a value (not undefined) or the time is up;
 * fails at once when `alive` stops holding (the process being waited for exited).
 */
export const eventually = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  timeoutMs = 20_000,
  everyMs = 50,
  alive: () => boolean = () => true
): Promise<A> => {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (e) {
      last = e
    }
    if (!alive()) throw new Error(`${what}: the process exited (last error: ${String(last)})`)
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (last error: ${String(last)})`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * `NAME=value` pairs from one string (benchmarks take extra service variables this way),
 * split on `separator`; a value may itself contain `=`. Pieces without `=` are ignored.
 */
export const envPairs = (text: string, separator: string | RegExp): Record<string, string> =>
  Object.fromEntries(
    text.split(separator).filter((s) => s.includes("=")).map((s) => {
      const at = s.indexOf("=")
      return [s.slice(0, at), s.slice(at + 1)]
    })
  )
