// File replay parsing (pure): CSV with a header row, or JSON lines (the domain's snake_case
// JSON form). Each data line becomes a validated tick or a `LineError` naming the line and
// the field; a bad line never stops the lines after it. Sequences are assigned by the
// publisher, and every tick's `source` is `replay:<file name>`.
import type { DecodeError } from "@trading/domain/DecodeError"
import { SCHEMA_VERSION } from "@trading/domain/Fields"
import * as Tick from "@trading/domain/Tick"
import * as Either from "effect/Either"
import { fieldsOf } from "./IngestError.js"

export type Format = "csv" | "jsonl"

export interface LineError {
  /** 1-based line number in the file. */
  readonly line: number
  /** Wire (snake_case) names of the offending fields; empty when the line is not a record at all. */
  readonly fields: ReadonlyArray<string>
  readonly reason: string
}

export type ParsedLine = Either.Either<Tick.Tick, LineError>

/** `.csv` -> csv; `.jsonl`, `.ndjson`, `.json` -> JSON lines. */
export const formatOf = (path: string): Either.Either<Format, string> => {
  const lower = path.toLowerCase()
  if (lower.endsWith(".csv")) return Either.right("csv")
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson") || lower.endsWith(".json")) return Either.right("jsonl")
  return Either.left(`cannot tell the format of ${path}: expected a .csv, .jsonl or .ndjson file`)
}

/** The file's base name, made safe for tick ids (visible ASCII, no spaces). */
export const fileLabel = (path: string): string =>
  (path.split(/[\\/]/).at(-1) ?? path).replace(/[^\x21-\x7e]/g, "_").slice(0, 64) || "file"

const lineError = (line: number, error: DecodeError): LineError => ({
  line,
  fields: fieldsOf(error),
  reason: error.message
})

export interface ReplayContext {
  readonly file: string
}

/** Defaults for what a recorded line may leave out: version, id (file + line), sequence, source. */
const defaults = (context: ReplayContext, line: number) => ({
  schema_version: SCHEMA_VERSION,
  tick_id: `replay-${fileLabel(context.file)}-${line}`,
  sequence: 0,
  source: `replay:${fileLabel(context.file)}`
})

// ---- JSON lines ---------------------------------------------------------------------

export const parseJsonLine = (text: string, line: number, context: ReplayContext): ParsedLine => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    return Either.left({
      line,
      fields: [],
      reason: `not JSON: ${cause instanceof Error ? cause.message : String(cause)}`
    })
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left({ line, fields: [], reason: "expected a JSON object per line" })
  }
  // the ingestor owns sequence and source: recorded values are replaced, not trusted
  const record = { ...defaults(context, line), ...json, sequence: 0, source: defaults(context, line).source }
  return Either.mapLeft(Tick.fromJson(record), (error) => lineError(line, error))
}

// ---- CSV ----------------------------------------------------------------------------

const COLUMNS = [
  "schema_version",
  "tick_id",
  "symbol",
  "price_micros",
  "size",
  "observed_at_unix_ms",
  "sequence",
  "source"
]
const REQUIRED = ["symbol", "price_micros", "size", "observed_at_unix_ms"]
const INTEGER_COLUMNS = new Set(["schema_version", "price_micros", "size", "observed_at_unix_ms", "sequence"])

export interface CsvHeader {
  readonly columns: ReadonlyArray<string>
}

/** Validates the header row: known snake_case tick fields, each once, the required ones present. */
export const parseCsvHeader = (text: string, line: number): Either.Either<CsvHeader, LineError> => {
  const columns = text.split(",").map((c) => c.trim())
  const unknown = columns.filter((c) => !COLUMNS.includes(c))
  if (unknown.length > 0) {
    return Either.left({
      line,
      fields: unknown,
      reason: `unknown column ${unknown.join(", ")}; expected some of ${COLUMNS.join(", ")}`
    })
  }
  const duplicated = columns.filter((c, i) => columns.indexOf(c) !== i)
  if (duplicated.length > 0) {
    return Either.left({ line, fields: duplicated, reason: `column ${duplicated.join(", ")} appears twice` })
  }
  const missing = REQUIRED.filter((c) => !columns.includes(c))
  if (missing.length > 0) {
    return Either.left({ line, fields: missing, reason: `missing column ${missing.join(", ")}` })
  }
  return Either.right({ columns })
}

/** One data row (no quoting: tick fields never contain commas). */
export const parseCsvRow = (header: CsvHeader, text: string, line: number, context: ReplayContext): ParsedLine => {
  const cells = text.split(",").map((c) => c.trim())
  if (cells.length !== header.columns.length) {
    return Either.left({
      line,
      fields: [],
      reason: `expected ${header.columns.length} columns (${header.columns.join(",")}), got ${cells.length}`
    })
  }
  const record: Record<string, unknown> = { ...defaults(context, line) }
  for (let i = 0; i < cells.length; i++) {
    const column = header.columns[i]!
    const cell = cells[i]!
    if (column === "sequence" || column === "source") continue // assigned by the ingestor
    if (INTEGER_COLUMNS.has(column)) {
      if (!/^-?\d+$/.test(cell)) {
        return Either.left({ line, fields: [column], reason: `${column}: expected an integer, got "${cell}"` })
      }
      record[column] = Number(cell)
    } else {
      record[column] = cell
    }
  }
  return Either.mapLeft(Tick.fromJson(record), (error) => lineError(line, error))
}

export type LineResult =
  | { readonly _tag: "Tick"; readonly tick: Tick.Tick }
  | { readonly _tag: "Bad"; readonly error: LineError }
  | { readonly _tag: "Skip" }
  /** The CSV header is unusable: no row after it can be read. */
  | { readonly _tag: "Fatal"; readonly error: LineError }

const skip: LineResult = { _tag: "Skip" }
const fromParsed = (parsed: ParsedLine): LineResult =>
  Either.isRight(parsed) ? { _tag: "Tick", tick: parsed.right } : { _tag: "Bad", error: parsed.left }

/**
 * A line-by-line parser for one file (it remembers the CSV header). Blank lines and lines
 * starting with `#` are skipped.
 */
export const makeLineParser = (format: Format, context: ReplayContext) => {
  let header: CsvHeader | undefined
  return (raw: string, line: number): LineResult => {
    const text = raw.trim()
    if (text.length === 0 || text.startsWith("#")) return skip
    if (format === "jsonl") return fromParsed(parseJsonLine(text, line, context))
    if (header !== undefined) return fromParsed(parseCsvRow(header, text, line, context))
    const parsed = parseCsvHeader(text, line)
    if (Either.isLeft(parsed)) return { _tag: "Fatal", error: parsed.left }
    header = parsed.right
    return skip
  }
}

/** Parses a whole text (tests and small files; the feed streams lines through the same parser). */
export const parseAll = (format: Format, text: string, context: ReplayContext): ReadonlyArray<LineResult> => {
  const parse = makeLineParser(format, context)
  const out: Array<LineResult> = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const result = parse(lines[i]!, i + 1)
    if (result._tag !== "Skip") out.push(result)
    if (result._tag === "Fatal") break
  }
  return out
}
