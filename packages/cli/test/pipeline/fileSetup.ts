// One pipeline test file's processes and temporary folder (kept apart from harness.ts, which
// the benchmark imports too and which must therefore not import vitest).
import { rmSync } from "node:fs"
import { afterAll } from "vitest"
import { Processes, tempDir } from "./harness.js"

/** Every process still running is killed and the folder removed after the file's tests. */
export const fileSetup = (tag: string) => {
  const procs = new Processes()
  const dir = tempDir(tag)
  afterAll(async () => {
    await procs.killAll()
    rmSync(dir, { recursive: true, force: true })
  })
  return { procs, dir }
}
