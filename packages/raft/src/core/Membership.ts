import type { Membership, NodeId } from "./Types.js"

export const emptyMembership: Membership = { voters: [], learners: [] }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Config entries and snapshot configurations carry the membership as JSON bytes. */
export const encodeMembership = (m: Membership): Uint8Array =>
  encoder.encode(JSON.stringify({ voters: [...m.voters].sort(), learners: [...m.learners].sort() }))

export const decodeMembership = (bytes: Uint8Array): Membership => {
  if (bytes.length === 0) return emptyMembership
  const parsed = JSON.parse(decoder.decode(bytes)) as { voters?: unknown; learners?: unknown }
  const ids = (v: unknown): Array<NodeId> => Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []
  return { voters: ids(parsed.voters), learners: ids(parsed.learners) }
}

export const isVoter = (m: Membership, id: NodeId): boolean => m.voters.includes(id)

export const isMember = (m: Membership, id: NodeId): boolean => m.voters.includes(id) || m.learners.includes(id)

/** Smallest number of voters that forms a majority. */
export const quorum = (m: Membership): number => Math.floor(m.voters.length / 2) + 1
