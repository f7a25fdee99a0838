// @trading/domain: the Schema-validated wire formats and the pure business logic of the
// trading pipeline. No I/O, no clock, no randomness: time and ids come in as inputs.
// See docs/domain.md.
export * as Bytes from "./Bytes.js"
export * as DecodeError from "./DecodeError.js"
export * as DeterministicId from "./DeterministicId.js"
export * as Execution from "./Execution.js"
export * as Fields from "./Fields.js"
export * as OrderCommand from "./OrderCommand.js"
export * as OrderEvent from "./OrderEvent.js"
export * as OrderRecord from "./OrderRecord.js"
export * as OrderRegistry from "./OrderRegistry.js"
export * as OrderValidation from "./OrderValidation.js"
export * as RecordStreamBytes from "./RecordStreamBytes.js"
export * as RegistryBytes from "./RegistryBytes.js"
export * as RiskLimits from "./RiskLimits.js"
export * as Strategy from "./Strategy.js"
export * as Tick from "./Tick.js"
