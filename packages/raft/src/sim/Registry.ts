/**
 * The simulator's test state machine: a first-writer-wins registry. `write(key, value)` sets
 * the key if it is unset and answers with the value that won; `read(key)` answers the current
 * value or null. Keys are independent, which keeps the linearizability check tractable.
 */
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export type RegistryCommand =
  | { readonly op: "write"; readonly key: string; readonly value: string }
  | { readonly op: "read"; readonly key: string }

export const encodeCommand = (c: RegistryCommand): Uint8Array =>
  encoder.encode(c.op === "write" ? `w\u0000${c.key}\u0000${c.value}` : `r\u0000${c.key}`)

export const decodeCommand = (bytes: Uint8Array): RegistryCommand => {
  const [op, key, value] = decoder.decode(bytes).split("\u0000")
  if (op === "w" && key !== undefined && value !== undefined) return { op: "write", key, value }
  if (op === "r" && key !== undefined) return { op: "read", key }
  throw new Error(`not a registry command: ${decoder.decode(bytes)}`)
}

export interface Registry {
  readonly values: Map<string, string>
}

export const makeRegistry = (): Registry => ({ values: new Map() })

/** Applies a write and returns the winning value; reads do not change anything. */
export const applyCommand = (r: Registry, c: RegistryCommand): string | null => {
  if (c.op === "read") return r.values.get(c.key) ?? null
  const current = r.values.get(c.key)
  if (current !== undefined) return current
  r.values.set(c.key, c.value)
  return c.value
}

export const snapshotRegistry = (r: Registry): Uint8Array =>
  encoder.encode(JSON.stringify([...r.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))

export const restoreRegistry = (data: Uint8Array): Registry =>
  data.length === 0
    ? makeRegistry()
    : { values: new Map(JSON.parse(decoder.decode(data)) as Array<[string, string]>) }
