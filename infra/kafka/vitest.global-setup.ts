// Global setup of the "integration" test project: every integration test gets a real
// Kafka broker in KAFKA_BROKERS.
//
// - KAFKA_BROKERS already set (CI's broker, Redpanda, a remote cluster): used as given.
// - Otherwise infra/kafka/up.sh starts the local broker from the project's jars (or finds
//   the one already running) and the test workers inherit KAFKA_BROKERS=127.0.0.1:<port>.
//   At teardown the broker is stopped only if this run started it, so a broker someone
//   started by hand with `pnpm kafka:up` survives the test run.
//
// Vitest runs a project's global setup only when that project has test files selected, so
// a unit-only run (`vitest run --project unit`, or a filter matching no integration file)
// starts no JVM.
import { execFile, execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const runDir = process.env.KAFKA_RUN_DIR ?? join(here, ".run")

// Whether a broker started by up.sh is alive now: its pid file names a live process that
// is a Kafka broker (not some other process that reused the pid).
const brokerRunning = (): boolean => {
  try {
    const pid = Number(readFileSync(join(runDir, "kafka.pid"), "utf8").trim())
    if (!Number.isInteger(pid) || pid <= 0) return false
    process.kill(pid, 0) // throws when no such process
    return execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8" }).includes("kafka.Kafka")
  } catch {
    return false
  }
}

const script = async (name: "up.sh" | "down.sh"): Promise<string> => {
  try {
    const { stderr } = await run("bash", [join(here, name)], { maxBuffer: 4 * 1024 * 1024 })
    return stderr.trim()
  } catch (error) {
    // up.sh explains itself on stderr (timeout, port taken, log tail): pass that on whole
    const failure = error as { stderr?: string; message: string }
    throw new Error(`infra/kafka/${name} failed:\n${failure.stderr?.trim() || failure.message}`)
  }
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.KAFKA_BROKERS) return undefined
  const startedHere = !brokerRunning()
  const report = await script("up.sh")
  // one line such as "kafka: Apache Kafka 4.4.0 ready on 127.0.0.1:9092 in 5200 ms (...)"
  const last = report.split("\n").at(-1)
  if (last) process.stderr.write(`${last}\n`)
  process.env.KAFKA_BROKERS = `127.0.0.1:${process.env.KAFKA_PORT ?? "9092"}`
  return async () => {
    if (startedHere) await script("down.sh")
  }
}
