// fsync of a directory: what makes a file's creation, rename or deletion in it durable
// (the file's own fsync covers its bytes, not its name). Used by the raft log's atomic
// replacements and by SqliteWalSync for the WAL SQLite creates.
import * as fs from "node:fs"

/** Fsyncs `dir` itself, synchronously. */
export const directory = (dir: string): void => {
  const fd = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Fsyncs `dir` itself on libuv's thread pool, off the event loop. */
export const directoryOffLoop = async (dir: string): Promise<void> => {
  const handle = await fs.promises.open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
