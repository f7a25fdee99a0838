// The raft-node client library (re-exported from @trading/raft as RaftClient).
export * as RaftClient from "./RaftClient.js"
