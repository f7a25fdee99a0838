// Ids derived from their inputs, so reprocessing the same input yields the same ids.
//
// SHA-256 rather than a 64-bit hash: with millions of orders a 64-bit id has a birthday
// collision risk that would silently merge two orders in the first-writer-wins registry;
// 128 bits of SHA-256 makes that negligible. It is implemented in ./internal/sha256.ts
// instead of taken from node:crypto so this package stays free of platform modules
// (the same ids in a browser, a worker or the simulator) and truly pure.
import { sha256, toHex } from "./internal/sha256.js"

const encoder = new TextEncoder()

const digest = (parts: ReadonlyArray<string>): Uint8Array => sha256(encoder.encode(parts.join("\u001f")))

/**
 * `<prefix>-<32 hex digits>`: the first 128 bits of SHA-256 over the prefix and the parts
 * joined by U+001F (which ids and labels cannot contain), so ("ab","c") and ("a","bc") differ.
 */
export const derive = (prefix: string, ...parts: ReadonlyArray<string>): string =>
  `${prefix}-${toHex(digest([prefix, ...parts]), 0, 16)}`

/**
 * The command id and order id of the command a strategy emitted for a tick: the two
 * halves of one SHA-256 digest of ("decision", strategy, tick id), one hash per command.
 */
export const decisionIds = (strategy: string, tickId: string): { commandId: string; orderId: string } => {
  const bytes = digest(["decision", strategy, tickId])
  return { commandId: `cmd-${toHex(bytes, 0, 16)}`, orderId: `ord-${toHex(bytes, 16, 32)}` }
}

/** Command id of the command a strategy emitted for a tick. */
export const commandId = (strategy: string, tickId: string): string => decisionIds(strategy, tickId).commandId

/** Order id of the order that command creates (one order per command). */
export const orderId = (strategy: string, tickId: string): string => decisionIds(strategy, tickId).orderId

/** Event id of a command's canonical outcome; the outbox and consumers deduplicate on it. */
export const eventId = (commandId: string): string => derive("evt", commandId)
