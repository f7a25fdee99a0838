import * as Data from "effect/Data"

/** The bus (client, broker or embedded log) could not do `op`. Retrying may help. */
export class BusError extends Data.TaggedError("BusError")<{
  readonly op: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A handler's verdict that a record can never be processed (undecodable, invalid): the
 * consumer dead-letters it and moves on. Any other handler failure is retried, never skipped.
 *
 * In a batch handler `offset` names the poisoned record; the records before it are handed
 * to the handler again as a smaller batch, then the poisoned one is dead-lettered.
 */
export class PoisonMessage extends Data.TaggedError("PoisonMessage")<{
  readonly reason: string
  /** Written to the dead letter's `dlq-error-tag` header, e.g. the decode error's `_tag`. */
  readonly errorTag?: string | undefined
  readonly offset?: number | undefined
  readonly cause?: unknown
}> {
  /** Wraps a tagged error (e.g. a Schema decode failure) as poison, keeping its tag and message. */
  static fromError(error: { readonly _tag?: string; readonly message?: string }, offset?: number): PoisonMessage {
    return new PoisonMessage({
      reason: error.message ?? String(error),
      errorTag: error._tag,
      offset,
      cause: error
    })
  }
}
