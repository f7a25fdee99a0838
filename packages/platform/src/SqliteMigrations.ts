// Schema migrations of the services' SQLite files (the order-executor's outbox, the
// stream-processor's state), versioned with SQLite's user_version so upgrades are explicit:
// each migration runs in its own transaction, and a file that a newer build wrote is refused
// before anything is written to it (this build does not know its tables).
import type Database from "better-sqlite3"

/** SQL for `exec` (one string, or statements in order), or a function when statements are not enough. */
export type Migration = string | ReadonlyArray<string> | ((db: Database.Database) => void)

/** What the refusal of a newer file names: the file and the program that writes its newer versions. */
export interface FileNames {
  readonly file: string
  readonly owner: string
}

/** Brings `db` from its user_version to `target` (default: every migration), one transaction per migration. */
export const migrate = (
  db: Database.Database,
  migrations: ReadonlyArray<Migration>,
  names: FileNames,
  target: number = migrations.length
): void => {
  const current = db.pragma("user_version", { simple: true }) as number
  if (current > migrations.length) {
    throw new Error(
      `${names.file} schema version ${current} is newer than this build's (${migrations.length}): ` +
        `run the newer ${names.owner}`
    )
  }
  for (let v = current; v < target; v++) {
    const migration = migrations[v]!
    db.transaction(() => {
      if (typeof migration === "function") migration(db)
      else if (typeof migration === "string") db.exec(migration)
      else for (const statement of migration) db.exec(statement)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}
