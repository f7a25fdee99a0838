// Loaded with NODE_OPTIONS=--import=<this file> (as cpu-profile.mjs): samples every allocation
// of the process, collected or not, with the inspector's sampling heap profiler, and writes a
// .heapprofile to BENCH_HEAP_PROF_DIR when the process exits normally (SIGTERM included).
// Unlike `--heap-prof`, whose profile keeps only what is still alive at exit, this shows where
// the garbage comes from: what the scavenges pay for. Read it with heap-summary.mjs.
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { join } from "node:path"

const session = new Session()
session.connect()
session.post("HeapProfiler.enable")
session.post("HeapProfiler.startSampling", {
  samplingInterval: 16384,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true
})
process.on("exit", () => {
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (error === null) {
      writeFileSync(join(process.env.BENCH_HEAP_PROF_DIR ?? ".", `${process.pid}.heapprofile`), JSON.stringify(result.profile))
    }
  })
})
