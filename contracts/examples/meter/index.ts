/**
 * `meter`: smart-meter readings billed in real time against a tariff (Treaty's lineage: the
 * energy use case of Coco). Members set the tariff: a price per kWh for each time band of the
 * day (UTC hours). Meters are users: each submits its cumulative register value in Wh; every
 * reading bills the consumption since the meter's previous reading at the price of the band the
 * reading falls in (the transaction's time, from the host clock). Readings must not go down.
 *
 * Money is exact: prices are integer cents per kWh, so cost = Wh × cents/kWh is an integer
 * number of millicents (1/1000 cent). The tariff is public; bills are private, and a meter can
 * read only its own (members can read any).
 */
import { ContractError, caller, contract, emit, map, method, now, t } from "treaty/contract";

/** A time band: from `startHour` (UTC) until the next band's start. */
interface Band {
  readonly startHour: number;
  readonly centsPerKwh: number;
}

interface Tariff {
  readonly bands: readonly Band[];
  readonly setAtMs: number;
  readonly setBy: string;
}

interface Bill {
  readonly meter: string;
  /** The register value of the last reading, Wh. */
  readonly lastWh: number;
  readonly lastReadingAtMs: number;
  readonly readings: number;
  /** Energy billed so far (since the first reading), Wh. */
  readonly billedWh: number;
  readonly costMillicents: number;
}

const tariffs = map<string, Tariff>("tariff", { public: true });
const bills = map<string, Bill>("bills");

const MS_PER_HOUR = 3_600_000;
/** Bounds keep one reading's cost a safe integer: 10^11 Wh × 10^4 cents/kWh = 10^15 < 2^53. */
const MAX_WH = 1e11;
const MAX_CENTS_PER_KWH = 10_000;

/** The UTC hour of the day of `timeMs` (contracts have no Date, and need none for this). */
function hourOf(timeMs: number): number {
  return Math.floor(timeMs / MS_PER_HOUR) % 24;
}

function currentTariff(): Tariff {
  const tariff = tariffs.get("current");
  if (tariff === undefined) throw new ContractError("NoTariff", "no tariff has been set");
  return tariff;
}

/** The band covering `hour`: the last band starting at or before it (bands start at hour 0). */
function bandAt(tariff: Tariff, hour: number): Band {
  let found = tariff.bands[0]!;
  for (const band of tariff.bands) if (band.startHour <= hour) found = band;
  return found;
}

function callerId(): string {
  const who = caller();
  if (who === null) throw new ContractError("NoCaller", "this method needs an authenticated caller");
  return who.id;
}

function billOf(meter: string): Bill {
  const bill = bills.get(meter);
  if (bill === undefined)
    throw new ContractError("UnknownMeter", `meter ${JSON.stringify(meter)} has no readings`);
  return bill;
}

export default contract({
  setTariff: method({
    mode: "readwrite",
    auth: "members",
    args: {
      bands: t.array(
        t.object({
          startHour: t.integer({ minimum: 0, maximum: 23 }),
          centsPerKwh: t.integer({ minimum: 0, maximum: MAX_CENTS_PER_KWH }),
        }),
        { maxItems: 24 },
      ),
    },
    description: "Sets the tariff: bands sorted by start hour, the first starting at hour 0.",
    run: ({ bands }) => {
      if (bands.length === 0 || bands[0]!.startHour !== 0) {
        throw new ContractError("InvalidTariff", "the first band must start at hour 0");
      }
      for (let i = 1; i < bands.length; i++) {
        if (bands[i]!.startHour <= bands[i - 1]!.startHour) {
          throw new ContractError(
            "InvalidTariff",
            `bands[${i}].startHour must be greater than bands[${i - 1}].startHour`,
          );
        }
      }
      const tariff: Tariff = { bands, setAtMs: now(), setBy: callerId() };
      tariffs.set("current", tariff);
      emit("tariffSet", { bands });
      return tariff;
    },
  }),
  tariff: method({
    mode: "readonly",
    auth: "anyone",
    description: "The current tariff (public).",
    run: () => currentTariff(),
  }),
  submitReading: method({
    mode: "readwrite",
    auth: "users",
    args: { wh: t.integer({ minimum: 0, maximum: MAX_WH }) },
    description: "Submits the meter's register value (Wh); bills the consumption since the last reading.",
    run: ({ wh }) => {
      const meter = callerId();
      const tariff = currentTariff();
      const timeMs = now();
      const previous = bills.get(meter);
      if (previous === undefined) {
        // The first reading sets the baseline: there is nothing to bill yet.
        bills.set(meter, {
          meter,
          lastWh: wh,
          lastReadingAtMs: timeMs,
          readings: 1,
          billedWh: 0,
          costMillicents: 0,
        });
        return { deltaWh: 0, centsPerKwh: bandAt(tariff, hourOf(timeMs)).centsPerKwh, costMillicents: 0 };
      }
      if (wh < previous.lastWh) {
        throw new ContractError(
          "NonMonotonicReading",
          `reading ${wh} Wh is below the previous reading ${previous.lastWh} Wh`,
        );
      }
      if (timeMs < previous.lastReadingAtMs) {
        throw new ContractError("ClockWentBack", "the reading is older than the meter's previous reading");
      }
      const deltaWh = wh - previous.lastWh;
      const { centsPerKwh } = bandAt(tariff, hourOf(timeMs));
      const costMillicents = deltaWh * centsPerKwh;
      const totalMillicents = previous.costMillicents + costMillicents;
      if (!Number.isSafeInteger(totalMillicents))
        throw new ContractError("BillTooLarge", "the bill would exceed 2^53 - 1 millicents");
      bills.set(meter, {
        meter,
        lastWh: wh,
        lastReadingAtMs: timeMs,
        readings: previous.readings + 1,
        billedWh: previous.billedWh + deltaWh,
        costMillicents: totalMillicents,
      });
      emit("billed", { meter, deltaWh, centsPerKwh, costMillicents });
      return { deltaWh, centsPerKwh, costMillicents };
    },
  }),
  myBill: method({
    mode: "readonly",
    auth: "users",
    description: "The calling meter's bill.",
    run: () => billOf(callerId()),
  }),
  billOf: method({
    mode: "readonly",
    auth: "members",
    args: { meter: t.string({ minLength: 1, maxLength: 128 }) },
    description: "Any meter's bill (members only).",
    run: ({ meter }) => billOf(meter),
  }),
});
