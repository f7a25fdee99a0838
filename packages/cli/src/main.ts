// The operator CLI: `start` (the whole pipeline in one process) and `verify` (checks the
// order streams on Kafka). See docs/operations.md.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { KafkaBus } from "@trading/bus"
import { runService } from "@trading/platform"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as AllInOne from "./AllInOne.js"
import * as Verify from "./Verify.js"
import { isClean, render } from "./VerifyReport.js"

const usage = `usage:
  trading start                   the whole pipeline in one process (PORT_HTTP for /healthz, default 8080)
  trading verify [--wait <sec>]   check orders.commands / orders.events on Kafka (KAFKA_BROKERS)
`

const [command, ...args] = process.argv.slice(2)

const parseWait = (rest: ReadonlyArray<string>): number | string => {
  if (rest.length === 0) return 0
  if (rest.length === 2 && rest[0] === "--wait" && /^\d+(\.\d+)?$/.test(rest[1]!)) return Number(rest[1]) * 1000
  return `unexpected arguments: ${rest.join(" ")}`
}

if (command === "start") {
  runService({ name: "all-in-one", grpcPort: 0, httpPort: 8080, config: AllInOne.AllInOneConfig }, AllInOne.layer)
} else if (command === "verify") {
  const wait = parseWait(args)
  if (typeof wait === "string") {
    process.stderr.write(`${wait}\n${usage}`)
    process.exit(2)
  }
  const program = Verify.run({ wait: wait }).pipe(
    Effect.tap((f) => Console.log(render(f))),
    Effect.map((f) => (isClean(f) ? 0 : 1)),
    Effect.provide(KafkaBus.layer),
    Effect.catchAll((e) => Effect.as(Console.error(`verify: ${e.message}`), 2))
  )
  NodeRuntime.runMain(
    Effect.flatMap(program, (code) => Effect.sync(() => process.exit(code))),
    { disablePrettyLogger: true, disableErrorReporting: true }
  )
} else {
  process.stderr.write(usage)
  process.exit(command === undefined || command === "help" || command === "--help" ? 0 : 2)
}
