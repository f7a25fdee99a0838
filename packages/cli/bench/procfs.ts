// A process's resources from /proc (Linux).
// - RSS: VmRSS now and VmHWM, the kernel's high-water mark of VmRSS over the process's whole
//   life (start-up included), which sampling could miss between two reads.
// - CPU: user + system time so far, from /proc/<pid>/stat, to tell which process is busy;
//   and the main thread's time on a CPU and waiting for one, from /proc/<pid>/schedstat.
import { readFileSync } from "node:fs"

export interface Rss {
  readonly currentMb: number
  readonly peakMb: number
}

const field = (status: string, name: string) => {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? NaN : Number(match[1]) / 1024
}

/** The process's RSS, or undefined once it has exited (its /proc entry is gone). */
export const rss = (pid: number): Rss | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    return { currentMb: field(status, "VmRSS"), peakMb: field(status, "VmHWM") }
  } catch {
    return undefined
  }
}

// USER_HZ: 100 on every Linux the project targets (sysconf(_SC_CLK_TCK) is not reachable from node)
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) the process used so far, or undefined once it has exited. */
export const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // fields after the command name, which is in parentheses and may contain spaces
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

export interface SchedStat {
  /** Seconds on a CPU. */
  readonly runSeconds: number
  /** Seconds runnable but waiting on a run queue for a CPU. */
  readonly waitSeconds: number
}

/**
 * The scheduler's account of the process's main thread (the one running its event loop):
 * /proc/<pid>/schedstat is the thread-group leader's, not the sum of its threads. The wait is
 * what a busy host adds to every step of a request's way; undefined once the process has
 * exited or on a kernel without schedstats.
 */
export const schedstat = (pid: number): SchedStat | undefined => {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ").map(Number)
    return Number.isFinite(run) && Number.isFinite(wait)
      ? { runSeconds: run! / 1e9, waitSeconds: wait! / 1e9 }
      : undefined
  } catch {
    return undefined
  }
}
