// A process's resources from /proc (Linux).
// - RSS: VmRSS now and VmHWM, the kernel's high-water mark of VmRSS over the process's whole
//   life (start-up included), which sampling could miss between two reads.
// - CPU: user + system time so far, from /proc/<pid>/stat, to tell which process is busy.
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
