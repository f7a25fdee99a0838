// node packages/cli/bench/profile-summary.mjs <pid.cpuprofile> [--map <bundle>.mjs.map] [--window <samples.csv>]
//
// Where a process's CPU went, from a profile written by cpu-profile.mjs (BENCH_CPU_PROF):
// the share of the time busy, by kind of code (Effect's runtime, GC, grpc-js, Node's
// internals, each package of the project...) and the functions with the most self time.
// --map resolves a service bundle's frames to their sources (packages/<svc>/dist/main.mjs.map).
// --window keeps only the samples taken while a benchmark's measured phase ran: the first
// send to the last answer of a BENCH_SAMPLES_FILE (`sentAt,latencyMs` in wall-clock ms),
// mapped onto the profile's clock with the `.clock` file cpu-profile.mjs writes beside it.
import { readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { frameName, sourceOf } from "./profileFrames.mjs"

const args = process.argv.slice(2)
const option = (name) => {
  const at = args.indexOf(name)
  return at < 0 ? undefined : args[at + 1]
}
const profileFile = args[0]
if (profileFile === undefined || profileFile.startsWith("--")) {
  console.error("usage: profile-summary.mjs <pid.cpuprofile> [--map <bundle.map>] [--window <samples.csv>]")
  process.exit(2)
}
const profile = JSON.parse(readFileSync(profileFile, "utf8"))
const mapFile = option("--map")
const sourceMap = mapFile === undefined ? undefined : new SourceMap(JSON.parse(readFileSync(mapFile, "utf8")))
const ownPackage = mapFile === undefined ? undefined : /packages\/([^/]+)\/dist\//.exec(mapFile)?.[1]

// the profile's timestamps are the monotonic clock in µs; the samples file is wall-clock ms
let from = -Infinity
let to = Infinity
const windowFile = option("--window")
if (windowFile !== undefined) {
  const clock = JSON.parse(readFileSync(`${profileFile}.clock`, "utf8"))
  const rows = readFileSync(windowFile, "utf8").trim().split("\n").map((line) => line.split(",").map(Number))
  const toMonotonic = (wallMs) => wallMs * 1000 - clock.wallUs + clock.monotonicUs
  from = toMonotonic(Math.min(...rows.map(([sentAt]) => sentAt)))
  to = toMonotonic(Math.max(...rows.map(([sentAt, latency]) => sentAt + latency)))
}

const kindOf = (file) => {
  if (file === "") return "native"
  if (file.startsWith("node:")) return "node internals"
  if (/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?effect\//.test(file)) return "effect"
  if (file.includes("@effect/")) return "@effect/*"
  if (file.includes("grpc-js")) return "grpc-js"
  if (file.includes("node_modules")) return "other dependencies"
  // a bundle's map names sources relative to packages/<svc>/dist
  if (file.startsWith("../src/") && ownPackage !== undefined) return `project: ${ownPackage}`
  const pkg = /packages\/([^/]+)\//.exec(file) ?? /^(?:\.\.\/)+([^/.][^/]*)\/src\//.exec(file)
  return pkg === null ? `other: ${file}` : `project: ${pkg[1]}`
}

const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const described = new Map()
const describe = (id) => {
  let d = described.get(id)
  if (d === undefined) {
    const frame = nodes.get(id).callFrame
    if (frame.functionName.startsWith("(")) d = { kind: frame.functionName, name: frame.functionName }
    else d = { kind: kindOf(sourceOf(frame, sourceMap).file), name: frameName(frame, sourceMap) }
    described.set(id, d)
  }
  return d
}

const byKind = new Map()
const byFunction = new Map()
let at = profile.startTime
let span = 0
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i]
  if (at < from || at > to) continue
  // a sample stands for the time until the next one
  const us = profile.timeDeltas[i + 1] ?? 0
  span += us
  const { kind, name } = describe(profile.samples[i])
  byKind.set(kind, (byKind.get(kind) ?? 0) + us)
  if (kind !== "(idle)") byFunction.set(name, (byFunction.get(name) ?? 0) + us)
}

const percent = (us) => `${((us / span) * 100).toFixed(1).padStart(5)} %`
const busy = span - (byKind.get("(idle)") ?? 0)
console.log(`${(span / 1e6).toFixed(1)} s profiled, busy ${percent(busy).trim()} of it`)
for (const [kind, us] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`  ${percent(us)}  ${kind}`)
console.log("most self time:")
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`  ${percent(us)}  ${name}`)
}
