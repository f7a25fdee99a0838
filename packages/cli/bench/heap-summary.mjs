// node packages/cli/bench/heap-summary.mjs <pid.heapprofile> [--map <bundle>.mjs.map]
// The bytes a process allocated (heap-profile.mjs) by allocating function, most first.
import { readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { frameName } from "./profileFrames.mjs"

const args = process.argv.slice(2)
const at = args.indexOf("--map")
const map = at < 0 ? undefined : new SourceMap(JSON.parse(readFileSync(args[at + 1], "utf8")))
const profile = JSON.parse(readFileSync(args[0], "utf8"))
const bySite = new Map()
let total = 0
const walk = (node, stack) => {
  const site = frameName(node.callFrame, map)
  const self = node.selfSize
  if (self > 0) {
    total += self
    const key = `${site}  <-  ${stack.slice(-2).reverse().join("  <-  ")}`
    bySite.set(key, (bySite.get(key) ?? 0) + self)
  }
  for (const child of node.children) walk(child, [...stack, site].slice(-3))
}
walk(profile.head, [])
console.log(`${(total / 1e6).toFixed(1)} MB sampled`)
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) {
  console.log(`${((bytes / total) * 100).toFixed(1).padStart(5)} %  ${site}`)
}
