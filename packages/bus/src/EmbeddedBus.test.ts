import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { conformance } from "../test/conformance.js"
import * as EmbeddedBus from "./EmbeddedBus.js"

// retries and dead letters log warnings by design; keep the test output to real errors
conformance("embedded", EmbeddedBus.layer.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Error))), {
  waitTimeout: "10 seconds"
})
