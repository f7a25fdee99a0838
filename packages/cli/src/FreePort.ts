// A free loopback TCP port (asks the OS for port 0, then releases it). There is a small
// window in which another process could take it; the in-process cluster binds right away.
import * as Effect from "effect/Effect"
import { createServer } from "node:net"

export const freePort: Effect.Effect<number, Error> = Effect.async<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (e) => resume(Effect.fail(e)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
