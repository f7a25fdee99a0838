// Bundles each service's entry point into one ES module, `packages/<name>/dist/main.mjs`,
// which is what `pnpm start:*`, the tests and the benchmarks run (ADR 0052).
//
// Why bundles and not `node --import tsx`: tsx compiles every module at start (about two
// seconds of CPU per process), keeps a loader thread with its own V8 heap, and enables
// source maps, which makes every captured stack trace (Effect captures one per span) parse
// source maps. A raft-node under tsx idles at about 190 MB RSS; bundled, at about 60 MB.
//
// Usage: node infra/bundle.mjs [name...]   (no names: every service)
// Workspace packages and npm dependencies are bundled, except the few that read their own
// files at run time (`better-sqlite3` loads its native addon, `@grpc/reflection` and
// `@grpc/proto-loader` load .proto files next to their code): those are resolved at build
// time, from the package that imports them, and imported by absolute path. A bundle is
// therefore a build artifact of this checkout (like node_modules), not something to copy
// elsewhere. The protobuf descriptor set that gRPC reflection serves is copied next to
// each bundle.
import { build } from "esbuild"
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

export const entries = {
  "market-ingestor": "packages/market-ingestor/src/main.ts",
  "stream-processor": "packages/stream-processor/src/main.ts",
  "order-executor": "packages/order-executor/src/main.ts",
  "raft-node": "packages/raft-node/src/main.ts",
  cli: "packages/cli/src/main.ts"
}

/** Where the bundle of `name` is written. */
export const bundlePath = (name) => join(root, "packages", name, "dist", "main.mjs")

// Some CommonJS dependencies call `require` for Node built-ins; an ES module bundle needs
// one in scope. The bundle's own `import.meta.url` is the base, as for any module.
const banner = [
  "import { createRequire as __bundleCreateRequire } from \"node:module\";",
  "const require = __bundleCreateRequire(import.meta.url);"
].join("\n")

// @grpc/grpc-js too, so that the reflection service and the servers share one instance of it
const readsOwnFiles = ["better-sqlite3", "@grpc/reflection", "@grpc/proto-loader", "@grpc/grpc-js"]

/** Leaves `readsOwnFiles` out of the bundle, imported from where they are installed. */
const externalInPlace = {
  name: "external-in-place",
  setup(build) {
    const filter = new RegExp(`^(${readsOwnFiles.map((n) => n.replace("/", "\\/")).join("|")})(/.*)?$`)
    build.onResolve({ filter }, (args) => ({
      path: createRequire(join(args.resolveDir, "index.js")).resolve(args.path),
      external: true
    }))
  }
}

const descriptors = join(root, "packages/proto/src/gen/descriptors.binpb")

/**
 * Whether the bundle is newer than every file it was built from (esbuild's metafile lists
 * them) and than this script: `pnpm start:*` then starts without rebuilding.
 */
const upToDate = (name) => {
  const outfile = bundlePath(name)
  const meta = `${outfile}.inputs.json`
  if (!existsSync(outfile) || !existsSync(meta)) return false
  const builtAt = statSync(outfile).mtimeMs
  const inputs = JSON.parse(readFileSync(meta, "utf8"))
  return [...inputs, fileURLToPath(import.meta.url), descriptors].every((file) => {
    try {
      return statSync(file).mtimeMs <= builtAt
    } catch {
      return false // an input is gone: rebuild
    }
  })
}

/** Builds the named bundles (all by default) that are out of date; returns the names built. */
export const bundle = async (names = Object.keys(entries)) => {
  const stale = names.filter((name) => {
    if (entries[name] === undefined) throw new Error(`no service named ${name}; expected one of ${Object.keys(entries)}`)
    return !upToDate(name)
  })
  await Promise.all(stale.map(async (name) => {
    const entry = entries[name]
    const outfile = bundlePath(name)
    const result = await build({
      entryPoints: [join(root, entry)],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      plugins: [externalInPlace],
      banner: { js: banner },
      sourcemap: "linked",
      metafile: true,
      logLevel: "warning"
    })
    const inputs = Object.keys(result.metafile.inputs).map((input) => join(root, input))
    writeFileSync(`${outfile}.inputs.json`, JSON.stringify(inputs))
    mkdirSync(join(dirname(outfile), "gen"), { recursive: true })
    copyFileSync(descriptors, join(dirname(outfile), "gen", "descriptors.binpb"))
  }))
  return stale
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now()
  const names = process.argv.slice(2)
  const built = await bundle(names.length > 0 ? names : undefined)
  if (built.length > 0) console.error(`bundled ${built.join(", ")} in ${Math.round(performance.now() - started)} ms`)
}
