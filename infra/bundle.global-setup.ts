// Global setup of the "integration" test project: the services' bundles are built once
// before any test spawns a service (the tests run what `pnpm start:*` runs, ADR 0052).
import { bundle } from "./bundle.mjs"

export default async function setup() {
  const started = performance.now()
  const built = await bundle()
  if (built.length > 0) console.log(`bundled ${built.join(", ")} in ${Math.round(performance.now() - started)} ms`)
}
