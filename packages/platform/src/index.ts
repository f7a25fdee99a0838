// Public API of @trading/platform: what a service needs to run (config, logging, tracing,
// health, metrics, HTTP, gRPC server and client, the service main), one module each:
// `ServerConfig.ServerConfig` is the settings Tag, `Health.worker(...)`, `GrpcServer.layer(...)`.
export * as GrpcClient from "./GrpcClient.js"
export * as GrpcServer from "./GrpcServer.js"
export * as GrpcService from "./GrpcService.js"
export * as GrpcStatus from "./GrpcStatus.js"
export * as Health from "./Health.js"
export * as HttpServer from "./HttpServer.js"
export * as Logging from "./Logging.js"
export * as Metrics from "./Metrics.js"
export * as ServerConfig from "./ServerConfig.js"
export * as Service from "./Service.js"
export { runService } from "./Service.js"
export * as Traceparent from "./Traceparent.js"
export * as Tracing from "./Tracing.js"
