// Services as real child processes: `node --import tsx packages/<service>/src/main.ts`, one
// process per service whose pid is the service's (as in ADR 0063). Through the tsx CLI, a
// kill -9 would hit only the wrapper, and a SIGTERM relayed by it could arrive twice (the
// second one, after runMain removed its handler, kills the service with code 143).
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Record<string, unknown>
}

export interface Service {
  readonly name: string
  readonly process: ChildProcess
  readonly output: () => string
  readonly waitFor: (message: string, timeoutMs?: number) => Promise<LogLine>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILL: no finalizer runs. */
  readonly kill9: () => Promise<void>
  /** SIGTERM (graceful) and wait for the exit code. */
  readonly stop: () => Promise<number | null>
}

export const startService = (service: string, env: Record<string, string>): Service => {
  const child = spawn(process.execPath, ["--import", "tsx", `packages/${service}/src/main.ts`], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      BIND_HOST: "127.0.0.1",
      PORT_GRPC: "0",
      PORT_HTTP: "0",
      LOG_FORMAT: "json",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const waiters = new Set<() => void>()
  child.stdout!.on("data", (chunk) => {
    stdout += chunk
    waiters.forEach((wake) => wake())
  })
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal })
      waiters.forEach((wake) => wake())
    })
  )
  const lines = () =>
    stdout.slice(0, stdout.lastIndexOf("\n") + 1).split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine)
  const waitFor = (message: string, timeoutMs = 60_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const done = (f: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        f()
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`${service}: no "${message}" within ${timeoutMs}ms\n${stdout}\n${stderr}`))),
        timeoutMs
      )
      const check = () => {
        const found = lines().find((line) => line.message === message)
        if (found !== undefined) done(() => resolve(found))
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(() => reject(new Error(`${service} exited before "${message}"\n${stdout}\n${stderr}`)))
        }
      }
      waiters.add(check)
      check()
    })
  const kill9 = async () => {
    try {
      process.kill(child.pid!, "SIGKILL")
    } catch {
      // already gone
    }
    await exited
  }
  const stop = async () => {
    child.kill("SIGTERM")
    const { code } = await exited
    if (code !== 0) process.stderr.write(`${service} exited with ${code}:\n${stdout}\n${stderr}\n`)
    return code
  }
  return { name: service, process: child, output: () => `${stdout}\n${stderr}`, waitFor, exited, kill9, stop }
}
