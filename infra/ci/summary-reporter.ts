// Prints the plain closing line CI reads ("N passed, N failed"); vitest's own summary
// is formatted for people, not for parsers.
import type { Reporter, TestModule } from "vitest/node"

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else skipped++
      }
      // a file that failed to load has no tests but is still a failure
      if (module.state() === "failed" && module.children.size === 0) failed++
    }
    const tail = skipped > 0 ? `, ${skipped} skipped` : ""
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`)
  }
}
