// Service processes for integration tests: real child processes (tsx), real signals,
// JSON log lines on stdout. Shared with packages/cli/test.
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("../../../", import.meta.url))

export interface Proc {
  readonly child: ChildProcess
  readonly output: () => string
  /** Resolves when a stdout line contains `text` (rejects if the process exits first or on timeout). */
  readonly waitFor: (text: string, timeoutMs?: number) => Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs `script` (a path from the repository root) with only PATH and `env` in its environment. */
export const run = (script: string, args: ReadonlyArray<string>, env: Record<string, string>): Proc => {
  // node itself with tsx as a loader (not the tsx wrapper): SIGKILL must hit the service
  // process, and a wrapper cannot relay SIGKILL to its child
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", BIND_HOST: "127.0.0.1", LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  let err = ""
  const wake: Array<() => void> = []
  child.stdout!.on("data", (c) => {
    out += c
    wake.forEach((w) => w())
  })
  child.stderr!.on("data", (c) => (err += c))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal })
      wake.forEach((w) => w())
    })
  )
  const waitFor = (text: string, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" in ${timeoutMs} ms\n${out}\n${err}`)), timeoutMs)
      const check = () => {
        if (out.includes(text)) {
          clearTimeout(timer)
          resolve()
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer)
          reject(new Error(`${script} exited before "${text}"\n${out}\n${err}`))
        }
      }
      wake.push(check)
      check()
    })
  return { child, output: () => `${out}\n${err}`, waitFor, exited }
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Kills (if still running) and waits for the exit. */
export const stop = async (proc: Proc, signal: NodeJS.Signals = "SIGKILL") => {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal)
  return proc.exited
}
