// Docker cannot run on the development machines or in CI, so the compose file and the
// Dockerfile are checked statically: they must parse, and every port, variable, address
// and command in them must agree with the port plan (docs/adr/0003-port-plan.md), the
// configuration variables the services read, and the root package.json scripts.
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8")

interface Service {
  readonly image?: string
  readonly build?: { readonly context: string; readonly dockerfile: string; readonly target?: string }
  readonly command?: ReadonlyArray<string>
  readonly environment?: Readonly<Record<string, string>>
  readonly ports?: ReadonlyArray<string>
  readonly volumes?: ReadonlyArray<string>
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>
  readonly healthcheck?: { readonly test: ReadonlyArray<string> }
}
interface Compose {
  readonly services: Readonly<Record<string, Service>>
  readonly volumes: Readonly<Record<string, unknown>>
}

// merge: the file shares settings through YAML anchors and `<<` merge keys, as compose does
const compose = parse(read("infra/docker-compose.yml"), { merge: true }) as Compose
const dockerfile = read("infra/Dockerfile")
const rootPackage = JSON.parse(read("package.json")) as {
  packageManager: string
  engines: { node: string }
  scripts: Record<string, string>
}

// The variables our services read: the first column of the table in docs/configuration.md.
const documentedVariables = new Set(
  [...read("docs/configuration.md").matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!)
)

// The port plan, read from the ADR's table so the two cannot drift apart.
// Rows look like `| raft-node 1/2/3 | 50070/50071/50072 | 8090/8091/8092 | Raft 7000/7001/7002 |`.
const portPlan = (() => {
  const plan = new Map<string, { grpc: number; http: number; raft?: number }>()
  for (const line of read("docs/adr/0003-port-plan.md").split("\n")) {
    const cells = line.split("|").map((c) => c.trim())
    const [name, grpc, http, other] = [cells[1] ?? "", cells[2] ?? "", cells[3] ?? "", cells[4] ?? ""]
    if (!/^\d+(\/\d+)*$/.test(grpc) || !/^\d+(\/\d+)*$/.test(http)) continue
    const grpcs = grpc.split("/").map(Number)
    const https = http.split("/").map(Number)
    const rafts = /Raft ([\d/]+)/.exec(other)?.[1]?.split("/").map(Number) ?? []
    const multi = /^(\S+) ([\d/]+)$/.exec(name)
    const names = multi ? multi[2]!.split("/").map((n) => `${multi[1]}-${n}`) : [name]
    names.forEach((service, i) => plan.set(service, { grpc: grpcs[i]!, http: https[i]!, raft: rafts[i] }))
  }
  return plan
})()

const services = Object.entries(compose.services)
const ourServices = services.filter(([, s]) => s.build !== undefined)
const raftNodes = ourServices.filter(([name]) => name.startsWith("raft-node-"))
const env = (name: string) => compose.services[name]?.environment ?? {}
const hostPort = (mapping: string) => Number(mapping.split(":")[0])
const containerPort = (mapping: string) => Number(mapping.split(":")[1])
const portOf = (address: string) => Number(address.split(":").at(-1))
const hostOf = (address: string) => address.split(":")[0]

describe("infra/docker-compose.yml", () => {
  it("has Redpanda, its console, the three pipeline services and three raft nodes", () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      "console",
      "market-ingestor",
      "order-executor",
      "raft-node-1",
      "raft-node-2",
      "raft-node-3",
      "redpanda",
      "stream-processor"
    ])
    expect(compose.services["console"]?.ports).toEqual(["8088:8080"])
  })

  it("gives every service a health check", () => {
    for (const [name, service] of services) {
      expect(service.healthcheck?.test.length, name).toBeGreaterThan(0)
    }
  })

  it("probes /healthz on each pipeline service's own HTTP port", () => {
    for (const [name, service] of ourServices) {
      const probe = service.healthcheck!.test.join(" ")
      expect(probe, name).toContain(`http://127.0.0.1:${env(name)["PORT_HTTP"]}/healthz`)
      // the runtime image has no curl or wget: the probe must be node itself
      expect(service.healthcheck!.test[0], name).toBe("CMD")
      expect(service.healthcheck!.test[1], name).toBe("node")
    }
  })

  it("publishes no host port twice", () => {
    const published = services.flatMap(([, s]) => (s.ports ?? []).map(hostPort))
    expect(published.every(Number.isInteger)).toBe(true)
    expect(new Set(published).size).toBe(published.length)
  })

  it("follows the port plan and publishes the ports each service listens on", () => {
    for (const [name, service] of ourServices) {
      const plan = portPlan.get(name)
      expect(plan, `${name} is in docs/adr/0003-port-plan.md`).toBeDefined()
      expect(Number(env(name)["PORT_GRPC"]), name).toBe(plan!.grpc)
      expect(Number(env(name)["PORT_HTTP"]), name).toBe(plan!.http)
      expect((service.ports ?? []).map(containerPort).sort(), name).toEqual([plan!.grpc, plan!.http].sort())
      expect((service.ports ?? []).map(hostPort).sort(), name).toEqual([plan!.grpc, plan!.http].sort())
    }
  })

  it("sets only documented configuration variables on the pipeline services", () => {
    expect(documentedVariables).toContain("PORT_GRPC") // the table was found and parsed
    for (const [name] of ourServices) {
      for (const variable of Object.keys(env(name))) {
        expect(documentedVariables.has(variable), `${name}: ${variable}`).toBe(true)
      }
    }
    // ${VAR:-default} interpolations from the host environment name documented variables too
    const interpolated = [...read("infra/docker-compose.yml").matchAll(/\$\{([A-Z_]+)[:?-]/g)].map((m) => m[1]!)
    for (const variable of interpolated) expect(documentedVariables.has(variable), variable).toBe(true)
  })

  it("points the Kafka clients at Redpanda's internal listener", () => {
    const command = compose.services["redpanda"]!.command!.join(" ")
    expect(command).toContain("internal://redpanda:9092")
    expect(command).toContain("redpanda.auto_create_topics_enabled=false")
    for (const name of ["market-ingestor", "stream-processor", "order-executor"]) {
      expect(env(name)["KAFKA_BROKERS"], name).toBe("redpanda:9092")
      expect(compose.services[name]!.depends_on?.["redpanda"]?.condition, name).toBe("service_healthy")
    }
  })

  it("bootstraps raft node 1 and lets nodes 2 and 3 join it at its gRPC address", () => {
    expect(raftNodes.map(([name]) => name)).toEqual(["raft-node-1", "raft-node-2", "raft-node-3"])
    const node1 = env("raft-node-1")
    expect(node1["RAFT_BOOTSTRAP"]).toBe("true")
    expect(node1["RAFT_JOIN_ADDR"]).toBeUndefined()
    const joinAddress = `raft-node-1:${node1["PORT_GRPC"]}`
    for (const name of ["raft-node-2", "raft-node-3"]) {
      expect(env(name)["RAFT_BOOTSTRAP"], name).toBe("false")
      expect(env(name)["RAFT_JOIN_ADDR"], name).toBe(joinAddress)
      expect(compose.services[name]!.depends_on?.["raft-node-1"]?.condition, name).toBe("service_healthy")
    }
    const ids = raftNodes.map(([name]) => env(name)["RAFT_NODE_ID"])
    expect(new Set(ids).size).toBe(3)
    const secrets = new Set(raftNodes.map(([name]) => env(name)["RAFT_CLUSTER_SECRET"]))
    expect(secrets.size).toBe(1)
    expect([...secrets][0]).toMatch(/^\$\{RAFT_CLUSTER_SECRET/)
  })

  it("binds each raft transport on its planned port and advertises it under the service name", () => {
    for (const [name, service] of raftNodes) {
      const bind = env(name)["RAFT_BIND_ADDR"]!
      const advertise = env(name)["RAFT_ADVERTISE_ADDR"]!
      expect(portOf(bind), name).toBe(portPlan.get(name)!.raft)
      expect(hostOf(bind), name).toBe("0.0.0.0")
      expect(advertise, name).toBe(`${name}:${portOf(bind)}`)
      // the raft log lives on the node's own named volume
      const mounts = (service.volumes ?? []).map((v) => v.split(":"))
      expect(mounts.some(([, target]) => env(name)["RAFT_DATA_DIR"]!.startsWith(`${target}/`)), name).toBe(true)
    }
  })

  it("sends the executor to a raft node's gRPC port, after all three are healthy", () => {
    const executor = compose.services["order-executor"]!
    const address = env("order-executor")["RAFT_NODE_GRPC_ADDR"]!
    const target = hostOf(address)!
    expect(raftNodes.map(([name]) => name)).toContain(target)
    expect(portOf(address)).toBe(Number(env(target)["PORT_GRPC"]))
    for (const [name] of raftNodes) expect(executor.depends_on?.[name]?.condition, name).toBe("service_healthy")
    // the SQLite outbox survives a container restart
    expect(executor.volumes?.some((v) => v.endsWith(":/app/.data"))).toBe(true)
  })

  it("only depends on services that exist and waits for them to be healthy", () => {
    for (const [name, service] of services) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(compose.services[dependency], `${name} -> ${dependency}`).toBeDefined()
        expect(condition, `${name} -> ${dependency}`).toBe("service_healthy")
      }
    }
  })

  it("declares every named volume it mounts", () => {
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!
        if (!source.startsWith(".") && !source.startsWith("/")) expect(compose.volumes, name).toHaveProperty(source)
      }
    }
  })

  it("starts each pipeline service with its root package.json script", () => {
    for (const [name, service] of ourServices) {
      const [runner, script, ...rest] = service.command ?? []
      expect(runner, name).toBe("pnpm")
      expect(rest, name).toEqual([])
      expect(script, name).toBe(`start:${name.replace(/-\d+$/, "")}`)
      expect(rootPackage.scripts[script!], name).toBeDefined()
    }
  })
})

describe("infra/Dockerfile", () => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)\s*$/gim)].map((m) => ({
    from: m[1]!,
    name: m[2]!
  }))

  it("has the base, deps and runtime stages, runtime last", () => {
    expect(stages.map((s) => s.name)).toEqual(["base", "deps", "runtime"])
    expect(stages.find((s) => s.name === "deps")?.from).toBe("base")
    expect(stages.find((s) => s.name === "runtime")?.from).toBe("base")
  })

  it("is the image every pipeline service builds, at its runtime stage", () => {
    for (const [name, service] of ourServices) {
      expect(service.build, name).toEqual({ context: "..", dockerfile: "infra/Dockerfile", target: "runtime" })
      expect(stages.map((s) => s.name), name).toContain(service.build!.target)
    }
  })

  it("installs the pinned pnpm with the frozen lockfile and compiles better-sqlite3", () => {
    const pnpm = rootPackage.packageManager.replace(/^pnpm@/, "")
    expect(dockerfile).toContain(`pnpm@${pnpm}`)
    expect(dockerfile).toMatch(/pnpm install --frozen-lockfile/)
    expect(dockerfile).toMatch(/require\('better-sqlite3'\)/)
    const node = /^ARG NODE_VERSION=(\d+)\./m.exec(dockerfile)?.[1]
    expect(node).toBe(/\d+/.exec(rootPackage.engines.node)?.[0])
  })

  it("runs the services as a non-root user in the runtime stage", () => {
    const runtime = dockerfile.slice(dockerfile.search(/^FROM\s+\S+\s+AS\s+runtime/im))
    const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1])
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).not.toMatch(/^(root|0)$/)
    // no compilers in the runtime: it copies the installed workspace from deps
    expect(runtime).not.toMatch(/apt-get install/)
    expect(runtime).toMatch(/COPY --from=deps/)
  })

  it("keeps installed and local-only folders out of the build context", () => {
    const ignored = read("infra/Dockerfile.dockerignore").split("\n")
    for (const entry of ["**/node_modules", ".git", "infra/kafka/.jars", "infra/kafka/.run"]) {
      expect(ignored).toContain(entry)
    }
  })
})
