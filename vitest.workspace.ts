// The test projects. Vitest 3.2 deprecates reading this file directly, so
// vitest.config.ts imports it into `test.projects` (see docs/adr/0002-test-projects.md).
import type { TestProjectInlineConfiguration } from "vitest/config"

const unit: TestProjectInlineConfiguration = {
  test: {
    name: "unit",
    include: ["packages/*/src/**/*.test.ts", "infra/**/*.test.ts"],
    exclude: ["**/node_modules/**", "infra/**/test/*.it.test.ts"],
    testTimeout: 30_000
  }
}

// Tests that talk to real brokers and real processes: a shared Kafka broker is started
// once (or KAFKA_BROKERS is used), files run one at a time so timings stay honest.
const integration: TestProjectInlineConfiguration = {
  test: {
    name: "integration",
    include: ["packages/*/test/**/*.test.ts", "infra/**/test/*.it.test.ts"],
    globalSetup: ["infra/bundle.global-setup.ts", "infra/kafka/vitest.global-setup.ts"],
    pool: "forks",
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 120_000,
    hookTimeout: 180_000
  }
}

export default [unit, integration]
