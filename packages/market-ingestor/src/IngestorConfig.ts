// The market-ingestor's own settings (docs/market-ingestor.md lists them). Read once at
// start; a set-but-invalid value fails the start naming the variable.
import * as Config from "effect/Config"
import * as Option from "effect/Option"

const SYMBOL = /^[A-Z0-9.]{1,12}$/

/** Replay pace: `max` (as fast as the bus takes them) or a multiple of the recorded pace (1 = recorded). */
export type ReplaySpeed = "max" | number

export interface IngestorSettings {
  readonly ticksTopic: string
  readonly symbols: ReadonlyArray<string>
  /** Synthetic ticks per second per symbol; 0 turns the generator off. */
  readonly rate: number
  readonly seed: number
  readonly replayFile: Option.Option<string>
  readonly replaySpeed: ReplaySpeed
  /** Partitions of the ticks topic when this process creates it. */
  readonly partitions: number
}

export const ticksTopic = Config.string("TICKS_TOPIC").pipe(
  Config.validate({ message: "expected a non-empty Kafka topic name", validation: (s) => s.trim().length > 0 }),
  Config.withDefault("market.ticks")
)

export const IngestorConfig: Config.Config<IngestorSettings> = Config.all({
  ticksTopic,
  symbols: Config.string("INGEST_SYMBOLS").pipe(
    Config.withDefault("ACME,GLOBEX,INITECH"),
    Config.map((value) => value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)),
    Config.validate({
      message: "expected comma-separated symbols of 1-12 characters A-Z, 0-9 or '.', e.g. ACME,BRK.B",
      validation: (symbols) => symbols.length > 0 && symbols.every((s) => SYMBOL.test(s))
    })
  ),
  rate: Config.number("INGEST_RATE").pipe(
    Config.validate({
      message: "expected ticks per second per symbol, a number 0..100000 (0 = no synthetic ticks)",
      validation: (n) => Number.isFinite(n) && n >= 0 && n <= 100_000
    }),
    Config.withDefault(1)
  ),
  seed: Config.integer("INGEST_SEED").pipe(
    Config.validate({ message: "expected an integer 0..4294967295", validation: (n) => n >= 0 && n <= 0xffff_ffff }),
    Config.withDefault(1)
  ),
  replayFile: Config.option(Config.nonEmptyString("INGEST_REPLAY_FILE")),
  replaySpeed: Config.string("INGEST_REPLAY_SPEED").pipe(
    Config.withDefault("1"),
    Config.validate({
      message: "expected `max` or a positive speed-up factor (1 = recorded pace, 10 = ten times faster)",
      validation: (s) => s === "max" || (Number.isFinite(Number(s)) && Number(s) > 0)
    }),
    Config.map((s): ReplaySpeed => s === "max" ? "max" : Number(s))
  ),
  partitions: Config.integer("TOPIC_PARTITIONS").pipe(
    Config.validate({ message: "expected a positive integer", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(3)
  )
})
