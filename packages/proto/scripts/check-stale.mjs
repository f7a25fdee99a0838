// Fails when src/gen is not what `pnpm proto` would generate from proto/ right now.
// Generates into a temporary folder with the same template and compares byte for byte.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const pkg = fileURLToPath(new URL("..", import.meta.url))
const protoRoot = join(pkg, "..", "..", "proto")
const buf = join(pkg, "node_modules", ".bin", "buf")
const out = mkdtempSync(join(tmpdir(), "proto-check-"))

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })

try {
  const env = { ...process.env, PATH: `${join(pkg, "node_modules", ".bin")}:${process.env.PATH}` }
  execFileSync(buf, ["generate", protoRoot, "--template", join(protoRoot, "buf.gen.yaml"), "--output", out], { cwd: pkg, env })
  execFileSync(buf, ["build", protoRoot, "-o", join(out, "src", "gen", "descriptors.binpb")], { cwd: pkg, env })
  const fresh = join(out, "src", "gen")
  const committed = join(pkg, "src", "gen")
  const names = (root) => new Set(walk(root).map((p) => relative(root, p)))
  const want = names(fresh)
  const have = names(committed)
  const problems = []
  for (const name of want) {
    if (!have.has(name)) problems.push(`missing: ${name}`)
    else if (!readFileSync(join(fresh, name)).equals(readFileSync(join(committed, name)))) problems.push(`stale: ${name}`)
  }
  for (const name of have) if (!want.has(name)) problems.push(`not generated from proto/: ${name}`)
  if (problems.length > 0) {
    console.error(`generated code is out of date; run \`pnpm proto\`\n  ${problems.join("\n  ")}`)
    process.exit(1)
  }
  console.log(`generated code is up to date (${want.size} files)`)
} finally {
  rmSync(out, { recursive: true, force: true })
}
