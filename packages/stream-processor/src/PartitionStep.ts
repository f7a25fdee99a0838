// Applying a run of ticks to one partition's state (pure). The ticks of a partition are
// applied in offset order to the state of their symbol; the result is the states of the
// symbols that changed (what the store must write and the processor then adopts), the
// partition's next offset and each tick's commands. The given state is never modified.
import type { OrderCommand } from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import type { Tick } from "@trading/domain/Tick"
import type { PartitionState } from "./StateStore.js"

export interface OffsetTick {
  readonly offset: number
  readonly tick: Tick
}

export interface Decision {
  readonly offset: number
  readonly tick: Tick
  readonly commands: ReadonlyArray<OrderCommand>
}

export interface StepResult {
  readonly nextOffset: number
  /** The new state of every symbol a tick of the run was applied to. */
  readonly changed: ReadonlyMap<string, Strategy.SymbolState>
  readonly decisions: ReadonlyArray<Decision>
}

export const emptyPartition: PartitionState = { nextOffset: 0, symbols: new Map() }

/** Index of the first record the state does not cover (records below the stored next offset must not be applied twice). */
export const firstUnseen = (state: PartitionState | undefined, records: ReadonlyArray<{ readonly offset: number }>) => {
  if (state === undefined) return 0
  let i = 0
  while (i < records.length && records[i]!.offset < state.nextOffset) i++
  return i
}

/** Records below the stored next offset are already in the state: they must not be applied twice. */
export const unseen = <R extends { readonly offset: number }>(
  state: PartitionState | undefined,
  records: ReadonlyArray<R>
): ReadonlyArray<R> => records.slice(firstUnseen(state, records))

export const apply = (
  state: PartitionState | undefined,
  ticks: ReadonlyArray<OffsetTick>,
  config: Strategy.StrategyConfig
): StepResult => {
  const changed = new Map<string, Strategy.SymbolState>()
  const decisions: Array<Decision> = new Array(ticks.length)
  let nextOffset = state?.nextOffset ?? 0
  for (let i = 0; i < ticks.length; i++) {
    const { offset, tick } = ticks[i]!
    const before = changed.get(tick.symbol) ?? state?.symbols.get(tick.symbol) ?? Strategy.initial(tick.symbol)
    const [after, commands] = Strategy.step(before, tick, config)
    changed.set(tick.symbol, after)
    decisions[i] = { offset, tick, commands }
    if (offset + 1 > nextOffset) nextOffset = offset + 1
  }
  return { nextOffset, changed, decisions }
}
