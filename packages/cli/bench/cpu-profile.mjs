// Loaded with NODE_OPTIONS=--import=<this file> by `pnpm bench:pipeline` when
// BENCH_CPU_PROF names a service: `--cpu-prof` itself is not allowed in NODE_OPTIONS, and the
// test helpers that spawn the services fix their command line. Profiles the whole process
// with the inspector and writes a .cpuprofile (Chrome DevTools / speedscope) to
// BENCH_CPU_PROF_DIR when the process exits normally (SIGTERM included, not SIGKILL).
// `profile-summary.mjs` reads it back.
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { join } from "node:path"

const session = new Session()
session.connect()
session.post("Profiler.enable")
session.post("Profiler.setSamplingInterval", { interval: 1000 })
session.post("Profiler.start")
process.on("exit", () => {
  // a same-thread session answers synchronously, so this runs before the process is gone
  session.post("Profiler.stop", (error, result) => {
    if (error === null) {
      const file = join(process.env.BENCH_CPU_PROF_DIR ?? ".", `${process.pid}.cpuprofile`)
      writeFileSync(file, JSON.stringify(result.profile))
      // the profile's timestamps are the monotonic clock (µs); this pairs it with the wall
      // clock, for profile-summary.mjs to find a benchmark phase's samples in it
      writeFileSync(
        `${file}.clock`,
        JSON.stringify({ monotonicUs: Number(process.hrtime.bigint() / 1000n), wallUs: Date.now() * 1000 })
      )
    }
  })
})
