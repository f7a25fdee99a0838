// Byte arrays joined into one: the registry's snapshot from its parts, a Raft snapshot's
// parts when a storage keeps the data itself, the registry node's merged requests.

/** The parts one after the other in one array; a single part is answered as it is (no copy). */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array =>
  parts.length === 1 ? parts[0]! : concatFresh(parts)

/**
 * The parts one after the other in a new array, even a single part: for keeping bytes
 * beyond the life of the parts (a snapshot's parts are views its state machine reuses).
 */
export const concatFresh = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
