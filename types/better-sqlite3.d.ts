// The part of better-sqlite3 12 the project uses (the package ships no types): the
// order-executor's outbox and the stream-processor's state store (ADR 0086).
declare module "better-sqlite3" {
  namespace Database {
    interface RunResult {
      readonly changes: number
      readonly lastInsertRowid: number | bigint
    }
    interface Statement {
      /** Parameters in order, or one array of them. */
      run(...params: ReadonlyArray<unknown>): RunResult
      all(...params: ReadonlyArray<unknown>): Array<unknown>
      get(...params: ReadonlyArray<unknown>): unknown
    }
    interface Database {
      prepare(sql: string): Statement
      exec(sql: string): Database
      pragma(source: string, options?: { readonly simple?: boolean }): unknown
      /** Wraps `fn` in BEGIN / COMMIT (ROLLBACK when it throws). */
      transaction<Args extends ReadonlyArray<unknown>, R>(fn: (...args: Args) => R): (...args: Args) => R
      close(): Database
      readonly inTransaction: boolean
      /** The file name given to the constructor. */
      readonly name: string
      /** True for an in-memory database (":memory:" or ""). */
      readonly memory: boolean
    }
  }
  const Database: new(
    filename: string,
    options?: { readonly readonly?: boolean; readonly timeout?: number }
  ) => Database.Database
  export = Database
}
