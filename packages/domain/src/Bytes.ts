// Byte arrays joined into one: the registry's snapshot from its parts, a Raft snapshot's
// parts when a storage keeps the data itself, the registry node's merged requests.

/** The parts one after the other in one array; a single part is answered as it is (no copy). */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
