/**
 * `pnpm sim`: run the deterministic cluster simulator over a range of seeds.
 * See docs/simulator.md for the options, replaying a seed and running a long soak.
 */
import { bugDescriptions, type BugName, bugNames } from "../core/Types.js"
import { runSeed, type SimResult } from "./Simulation.js"

interface Args {
  seeds: number
  from: number
  seed: number | null
  nodes: number | undefined
  steps: number
  trace: boolean
  traceHash: boolean
  bug: BugName | undefined
  listBugs: boolean
}

const usage = `usage: pnpm sim [--seeds N] [--from S] [--seed S] [--nodes 3|5] [--steps N] [--trace] [--trace-hash]
                [--bug NAME] [--list-bugs]`

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const args: Args = {
    seeds: 100,
    from: 1,
    seed: null,
    nodes: undefined,
    steps: 10_000,
    trace: false,
    traceHash: false,
    bug: undefined,
    listBugs: false
  }
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (v === undefined || !Number.isInteger(n) || n < min) {
      throw new Error(`${flag} expects an integer >= ${min}, got ${v ?? "nothing"}`)
    }
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    switch (a) {
      case "--":
        break
      case "--seeds":
        args.seeds = int(a, argv[++i], 1)
        break
      case "--from":
        args.from = int(a, argv[++i], 0)
        break
      case "--seed":
        args.seed = int(a, argv[++i], 0)
        break
      case "--nodes": {
        const n = int(a, argv[++i], 3)
        if (n !== 3 && n !== 5) throw new Error(`--nodes expects 3 or 5, got ${n}`)
        args.nodes = n
        break
      }
      case "--steps":
        args.steps = int(a, argv[++i], 1)
        break
      case "--trace":
        args.trace = true
        break
      case "--trace-hash":
        args.traceHash = true
        break
      case "--bug": {
        const b = argv[++i]
        if (!bugNames.includes(b as BugName)) throw new Error(`--bug expects one of ${bugNames.join(", ")}, got ${b}`)
        args.bug = b as BugName
        break
      }
      case "--list-bugs":
        args.listBugs = true
        break
      default:
        throw new Error(`unknown option ${a}\n${usage}`)
    }
  }
  return args
}

/** The shortest prefix of fault-phase steps that still fails (violations are checked after every step). */
export const shrink = (seed: number, failed: SimResult, args: Pick<Args, "nodes" | "steps" | "bug">): number => {
  const fails = (steps: number) => runSeed({ seed, nodes: args.nodes, steps, bug: args.bug }).violation !== null
  if (failed.step <= args.steps && fails(failed.step)) return failed.step
  let lo = 1
  let hi = args.steps
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (fails(mid)) hi = mid
    else lo = mid + 1
  }
  return lo
}

const main = (): number => {
  let args: Args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`)
    return 2
  }
  if (args.listBugs) {
    for (const b of bugNames) process.stdout.write(`${b}\n`)
    return 0
  }
  const seeds = args.seed !== null
    ? [args.seed]
    : Array.from({ length: args.seeds }, (_, i) => args.from + i)
  const started = performance.now()
  let steps = 0
  let leaders = 0
  let ops = 0
  let unknown = 0
  for (const seed of seeds) {
    const r = runSeed({
      seed,
      nodes: args.nodes,
      steps: args.steps,
      bug: args.bug,
      hash: args.traceHash,
      trace: args.trace ? (line) => process.stdout.write(`${line}\n`) : undefined
    })
    steps += r.stats.steps
    leaders += r.stats.leadersElected
    ops += r.stats.opsOk
    unknown += r.stats.opsUnknown
    if (args.traceHash) process.stdout.write(`seed ${seed} trace-hash ${r.traceHash}\n`)
    if (r.violation !== null) {
      const k = shrink(seed, r, args)
      const lines: Array<string> = []
      const replay = runSeed({ seed, nodes: args.nodes, steps: k, bug: args.bug, trace: (l) => lines.push(l) })
      const v = replay.violation ?? r.violation
      // Ticks and fsyncs are most of the trace; the summary shows the last 200 other events.
      const interesting = lines.filter((l) => !/ms #\d+ (tick|fsync) /.test(l))
      const shown = interesting.length > 200 ? interesting.slice(-200) : interesting
      const flags = `--seed ${seed} --steps ${k}${args.nodes === undefined ? "" : ` --nodes ${args.nodes}`}${
        args.bug === undefined ? "" : ` --bug ${args.bug}`
      } --trace`
      process.stdout.write(
        [
          `VIOLATION seed=${seed} property="${v.property}": ${v.detail}`,
          `shortest failing prefix: ${k} steps (${lines.length} trace lines; the last ${shown.length} besides ticks and fsyncs below); replay every event: pnpm sim ${flags}`,
          ...shown.map((l) => `  ${l}`),
          ""
        ].join("\n")
      )
      return 1
    }
  }
  const secs = (performance.now() - started) / 1000
  process.stdout.write(
    `sim: ${seeds.length} seeds passed (${
      args.bug === undefined ? "no bug" : `bug ${args.bug}`
    }), ${steps} steps, ${leaders} leaders elected, ${ops} client ops acknowledged, ${unknown} of unknown outcome, ${
      secs.toFixed(1)
    } s (${(seeds.length / secs).toFixed(1)} seeds/s)\n`
  )
  if (args.bug !== undefined) {
    process.stdout.write(`bug ${args.bug} (${bugDescriptions[args.bug]}) was NOT caught\n`)
    return 1
  }
  return 0
}

// `pnpm sim --trace | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw e
})

process.exitCode = main()
