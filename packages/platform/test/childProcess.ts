// Runs the fixture service as a real child process and collects its stdout JSON log lines
// and stderr. The service runs as `node --import tsx`, not under the tsx CLI: the CLI is a
// wrapper process that relays signals with a short grace period and, on SIGKILL, leaves
// the real service orphaned, so signals must reach the service process itself.
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const node = [process.execPath, "--import", "tsx"] as const
const fixture = fileURLToPath(new URL("./fixtures/service.ts", import.meta.url))

/** Runs the fixture under `script`, so its stdout is a terminal; resolves with what it printed. */
export const runOnTerminal = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn("script", ["-qec", `${node.join(" ")} ${fixture}`, "/dev/null"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", BIND_HOST: "127.0.0.1", NODE_ID: "fixture-1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (chunk) => (output += chunk))
    child.on("exit", (code) => resolve({ code, output }))
  })

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Record<string, unknown>
}

export interface Child {
  readonly process: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Parsed stdout lines (throws if a line is not JSON: that is a test failure too). */
  readonly lines: () => ReadonlyArray<LogLine>
  /** Resolves with the first log line with this message. */
  readonly waitFor: (message: string, timeoutMs?: number) => Promise<LogLine>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export const start = (env: Record<string, string> = {}): Child => {
  const child = spawn(node[0], [...node.slice(1), fixture], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", BIND_HOST: "127.0.0.1", NODE_ID: "fixture-1", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const waiters: Array<() => void> = []
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
  // only complete lines: a chunk may end in the middle of one
  const lines = () =>
    stdout.slice(0, stdout.lastIndexOf("\n") + 1).split("\n").filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LogLine)
  const waitFor = (message: string, timeoutMs = 90_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${message}" within ${timeoutMs}ms\nstdout:\n${stdout}\nstderr:\n${stderr}`)),
        timeoutMs
      )
      const check = () => {
        const found = lines().find((line) => line.message === message)
        if (found !== undefined) {
          clearTimeout(timer)
          resolve(found)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer)
          reject(new Error(`exited before "${message}"\nstdout:\n${stdout}\nstderr:\n${stderr}`))
        }
      }
      waiters.push(check)
      check()
    })
  return { process: child, stdout: () => stdout, stderr: () => stderr, lines, waitFor, exited }
}
