// Reads back what pause-log.mjs wrote for one process and sums it over a time window: how
// often and how long its event loop stood still, and how much of that was GC.
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The `--import` loader that writes the logs. */
export const loader = fileURLToPath(new URL("pause-log.mjs", import.meta.url))

/**
 * With BENCH_PAUSE_LOG set: a new directory for the logs (named after `tag`), into which this
 * process logs its own pauses too (the client's pauses are part of what a benchmark
 * measures); without it, undefined.
 */
export const setup = async (tag: string): Promise<string | undefined> => {
  if (!process.env.BENCH_PAUSE_LOG) return undefined
  const dir = mkdtempSync(join(tmpdir(), `${tag}-pauses-`))
  process.env.BENCH_PAUSE_LOG_DIR = dir
  await import(loader)
  return dir
}

/** Environment that makes a service log its pauses into `dir` (NODE_OPTIONS merged with `nodeOptions`). */
export const env = (dir: string, nodeOptions = ""): Record<string, string> => ({
  NODE_OPTIONS: `--import=${loader} ${nodeOptions}`.trim(),
  BENCH_PAUSE_LOG_DIR: dir
})

export interface Pauses {
  readonly scavenges: number
  readonly scavengeMs: number
  readonly scavengeMaxMs: number
  readonly markCompacts: number
  readonly markCompactMs: number
  readonly markCompactMaxMs: number
  /** Event-loop stalls over 10 ms: count and longest. */
  readonly stalls: number
  readonly stallMaxMs: number
}

/** The pauses process `pid` logged into `dir` between the wall times `from` and `to` (ms). */
export const read = (dir: string, pid: number, from: number, to: number): Pauses => {
  const file = join(dir, `${pid}.log`)
  const sums = {
    scavenges: 0,
    scavengeMs: 0,
    scavengeMaxMs: 0,
    markCompacts: 0,
    markCompactMs: 0,
    markCompactMaxMs: 0,
    stalls: 0,
    stallMaxMs: 0
  }
  if (!existsSync(file)) return sums
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [at, duration, kind] = line.split(" ")
    const t = Number(at)
    const ms = Number(duration)
    if (!(t >= from && t <= to)) continue
    if (kind === "scavenge" || kind === "minor-ms") {
      sums.scavenges++
      sums.scavengeMs += ms
      sums.scavengeMaxMs = Math.max(sums.scavengeMaxMs, ms)
    } else if (kind === "mark-compact") {
      sums.markCompacts++
      sums.markCompactMs += ms
      sums.markCompactMaxMs = Math.max(sums.markCompactMaxMs, ms)
    } else if (kind === "stall") {
      sums.stalls++
      sums.stallMaxMs = Math.max(sums.stallMaxMs, ms)
    }
  }
  return sums
}

/** One row of the table: `label  scavenges (ms, max)  mark-compacts (ms, max)  stalls (max)`. */
const row = (label: string, p: Pauses): ReadonlyArray<string> => [
  label,
  `${p.scavenges} (${p.scavengeMs.toFixed(0)} ms, max ${p.scavengeMaxMs.toFixed(1)})`,
  `${p.markCompacts} (${p.markCompactMs.toFixed(0)} ms, max ${p.markCompactMaxMs.toFixed(1)})`,
  `${p.stalls} (max ${p.stallMaxMs.toFixed(1)} ms)`
]

const header: ReadonlyArray<string> = ["process", "scavenges", "mark-compacts", "event-loop stalls > 10 ms"]

/** Prints, under `title`, a table of what each of `processes` ([label, pid]) logged into `dir` between `from` and `to`. */
export const print = (
  title: string,
  dir: string,
  processes: ReadonlyArray<readonly [string, number]>,
  from: number,
  to: number
) => {
  const table = [header, ...processes.map(([label, pid]) => row(label, read(dir, pid, from, to)))]
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)))
  console.log(`\n${title} (logs in ${dir})`)
  for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "))
}
