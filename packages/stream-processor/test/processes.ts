// Services as real child processes on the shared helper (ADR 0052): the service's bundle,
// one process per service whose pid is the service's, so kill -9 and SIGTERM reach it.
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"

export type LogLine = ServiceProcess.LogLine

export interface Service {
  readonly name: string
  readonly process: ServiceProcess.ServiceProcess["process"]
  readonly output: () => string
  readonly waitFor: (message: string, timeoutMs?: number) => Promise<LogLine>
  readonly exited: Promise<ServiceProcess.Exit>
  /** SIGKILL: no finalizer runs. */
  readonly kill9: () => Promise<void>
  /** SIGTERM (graceful) and wait for the exit code. */
  readonly stop: () => Promise<number | null>
}

export const startService = (service: ServiceProcess.ServiceName, env: Record<string, string>): Service => {
  const proc = ServiceProcess.start(ServiceProcess.service(service), {
    BIND_HOST: "127.0.0.1",
    PORT_GRPC: "0",
    PORT_HTTP: "0",
    LOG_FORMAT: "json",
    ...env
  })
  const stop = async () => {
    const { code } = await proc.stop("SIGTERM")
    if (code !== 0) process.stderr.write(`${service} exited with ${code}:\n${proc.output()}\n`)
    return code
  }
  return {
    name: service,
    process: proc.process,
    output: proc.output,
    waitFor: proc.waitForMessage,
    exited: proc.exited,
    kill9: async () => {
      await proc.stop("SIGKILL")
    },
    stop
  }
}
