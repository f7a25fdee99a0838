// Runs the fixture service (a TypeScript file under tsx) as a real child process on the
// shared helper (ADR 0052) and collects its stdout JSON log lines and stderr.
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"
import { spawn } from "node:child_process"

const fixture = ServiceProcess.script("packages/platform/test/fixtures/service.ts")
const baseEnv = { BIND_HOST: "127.0.0.1", NODE_ID: "fixture-1" }

/** Runs the fixture under `script`, so its stdout is a terminal; resolves with what it printed. */
export const runOnTerminal = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const command = [process.execPath, ...fixture.argv].join(" ")
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: ServiceProcess.repoRoot,
      env: { PATH: process.env.PATH ?? "", ...baseEnv, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (chunk) => (output += chunk))
    child.on("exit", (code) => resolve({ code, output }))
  })

export type LogLine = ServiceProcess.LogLine

export interface Child {
  readonly process: ServiceProcess.ServiceProcess["process"]
  readonly stdout: () => string
  readonly stderr: () => string
  /** Parsed stdout lines (throws if a line is not JSON: the fixture logs JSON only, so that is a failure too). */
  readonly lines: () => ReadonlyArray<LogLine>
  /** Resolves with the first log line with this message. */
  readonly waitFor: (message: string, timeoutMs?: number) => Promise<LogLine>
  readonly exited: Promise<ServiceProcess.Exit>
}

export const start = (env: Record<string, string> = {}): Child => {
  const proc = ServiceProcess.start(fixture, { ...baseEnv, ...env })
  const lines = () => {
    const out = proc.stdout()
    return out.slice(0, out.lastIndexOf("\n") + 1).split("\n").filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LogLine)
  }
  return {
    process: proc.process,
    stdout: proc.stdout,
    stderr: proc.stderr,
    lines,
    waitFor: (message, timeoutMs = 90_000) => proc.waitForMessage(message, timeoutMs),
    exited: proc.exited
  }
}
