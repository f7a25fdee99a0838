// Service processes for integration tests, on the shared helper (ADR 0052): a service's
// bundle as a real child process with real signals and JSON log lines on stdout, and only
// PATH, BIND_HOST, LOG_FORMAT and `env` in its environment. Shared with packages/cli/test.
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"

export { freePort, repoRoot as root } from "@trading/platform/testing/ServiceProcess"

export interface Proc {
  readonly child: ServiceProcess.ServiceProcess["process"]
  readonly output: () => string
  /** Resolves when a stdout line contains `text` (rejects if the process exits first or on timeout). */
  readonly waitFor: (text: string, timeoutMs?: number) => Promise<void>
  readonly exited: Promise<ServiceProcess.Exit>
}

/** Runs the bundle of `service` with `args`. */
export const run = (
  service: ServiceProcess.ServiceName,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): Proc => {
  const proc = ServiceProcess.start(ServiceProcess.service(service, args), {
    BIND_HOST: "127.0.0.1",
    LOG_FORMAT: "json",
    ...env
  })
  return { child: proc.process, output: proc.output, waitFor: proc.waitForText, exited: proc.exited }
}

/** Kills (if still running) and waits for the exit. */
export const stop = async (proc: Proc, signal: NodeJS.Signals = "SIGKILL") => {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal)
  return proc.exited
}
