/**
 * The per-call meter: deterministic fuel, the wall-clock safety net, and the call's first fatal
 * failure. Once a failure is recorded it sticks: every later interrupt poll stops the guest at
 * once and every later host call is refused, so a contract cannot swallow a limit (or a host
 * refusal such as `ReadonlyViolation`) and carry on.
 */
import { TreatyError } from "../../sdk/errors.js";
import { FUEL_PER_HOST_CALL, FUEL_PER_POLL, NATIVE_UNITS_PER_FUEL, type SandboxLimits } from "./limits.js";

/** A monotonic clock in milliseconds (injected so tests and workers can supply their own). */
export type Clock = () => number;

export class CallMeter {
  readonly #clock: Clock;
  #fuel = 0;
  #budget = 0;
  #deadlineMs = 0;
  #failure: TreatyError | undefined;
  #active = false;

  constructor(clock: Clock = () => performance.now()) {
    this.#clock = clock;
  }

  /** Starts metering one call (or one bundle evaluation) under `limits`. */
  start(limits: SandboxLimits): void {
    this.#fuel = 0;
    this.#budget = limits.executionBudget;
    this.#deadlineMs = this.#clock() + limits.wallClockMs;
    this.#failure = undefined;
    this.#active = true;
  }

  /** Ends metering; polls outside a metered section interrupt (nothing should run then). */
  stop(): void {
    this.#active = false;
  }

  /** Fuel burnt since `start`. */
  get fuelUsed(): number {
    return this.#fuel;
  }

  /** The first fatal failure of the call, if any. */
  get failure(): TreatyError | undefined {
    return this.#failure;
  }

  /** Records a fatal failure; the first one wins. */
  fail(error: TreatyError): void {
    if (this.#failure === undefined) this.#failure = error;
  }

  /** The QuickJS interrupt handler: true stops the guest (with an uncatchable "interrupted"). */
  poll(): boolean {
    if (this.#failure !== undefined || !this.#active) return true;
    this.#burn(FUEL_PER_POLL);
    return this.#failure !== undefined;
  }

  /**
   * Charges one host call moving `bytes` across the boundary; false (with the failure recorded)
   * when the call must be refused.
   */
  chargeHostCall(bytes: number): boolean {
    if (this.#failure !== undefined || !this.#active) return false;
    this.#burn(FUEL_PER_HOST_CALL + bytes);
    return this.#failure === undefined;
  }

  /**
   * Charges `units` of native work (the lockdown's metered builtins, before they run); false
   * (with the failure recorded) when the builtin must not run.
   */
  chargeNative(units: number): boolean {
    if (this.#failure !== undefined || !this.#active) return false;
    this.#burn(Math.ceil(units / NATIVE_UNITS_PER_FUEL));
    return this.#failure === undefined;
  }

  #burn(fuel: number): void {
    this.#fuel += fuel;
    if (this.#fuel > this.#budget) {
      this.fail(new TreatyError("ExecutionLimit", `execution budget of ${this.#budget} fuel exhausted`));
    } else if (this.#clock() > this.#deadlineMs) {
      this.fail(new TreatyError("ExecutionLimit", "wall-clock deadline exceeded"));
    }
  }
}
