import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import meter from "../../contracts/examples/meter/index.js";
import { type CallResult, member, testContract, user } from "../../contracts/testing/index.js";

const operator = { caller: member("operator") };
const HOUR = 3_600_000;
/** Off-peak 20 c/kWh from midnight, peak 35 from 07:00, off-peak again from 23:00. */
const bands = [
  { startHour: 0, centsPerKwh: 20 },
  { startHour: 7, centsPerKwh: 35 },
  { startHour: 23, centsPerKwh: 20 },
];
const at = (day: number, hour: number) => Date.UTC(2025, 0, 1 + day, hour, 30);

function code(result: CallResult): string | undefined {
  return result.ok ? undefined : result.error.code;
}

function priceAt(timeMs: number): number {
  const hour = new Date(timeMs).getUTCHours();
  return [...bands].reverse().find((b) => b.startHour <= hour)!.centsPerKwh;
}

describe("sample: meter", () => {
  it("bills each reading's delta at the price of its time band", () => {
    const c = testContract(meter, { name: "meter" });
    assert.equal(
      code(c.call("submitReading", { wh: 100 }, { caller: user("m1"), timeMs: at(0, 1) })),
      "NoTariff",
    );
    assert.ok(c.call("setTariff", { bands }, { ...operator, timeMs: at(0, 0) }).ok);
    const tariff = c.call("tariff");
    assert.deepEqual(tariff.ok && (tariff.result as { bands: unknown }).bands, bands);
    const first = c.call("submitReading", { wh: 1000 }, { caller: user("m1"), timeMs: at(0, 3) });
    assert.deepEqual(first.ok && first.result, { deltaWh: 0, centsPerKwh: 20, costMillicents: 0 });
    const peak = c.call("submitReading", { wh: 3500 }, { caller: user("m1"), timeMs: at(0, 8) });
    assert.deepEqual(peak.ok && peak.result, { deltaWh: 2500, centsPerKwh: 35, costMillicents: 87_500 });
    assert.deepEqual(peak.events, [
      { name: "billed", data: { meter: "m1", deltaWh: 2500, centsPerKwh: 35, costMillicents: 87_500 } },
    ]);
    const night = c.call("submitReading", { wh: 4500 }, { caller: user("m1"), timeMs: at(0, 23) });
    assert.deepEqual(night.ok && night.result, { deltaWh: 1000, centsPerKwh: 20, costMillicents: 20_000 });
    const bill = c.call("myBill", {}, { caller: user("m1") });
    assert.deepEqual(bill.ok && bill.result, {
      meter: "m1",
      lastWh: 4500,
      lastReadingAtMs: at(0, 23),
      readings: 3,
      billedWh: 3500,
      costMillicents: 107_500,
    });
  });

  it("refuses readings that go down or back in time, and keeps bills private", () => {
    const c = testContract(meter, { name: "meter" });
    c.call("setTariff", { bands }, operator);
    c.call("submitReading", { wh: 500 }, { caller: user("m1"), timeMs: at(1, 10) });
    const lower = c.call("submitReading", { wh: 499 }, { caller: user("m1"), timeMs: at(1, 11) });
    assert.deepEqual(!lower.ok && lower.error, {
      code: "NonMonotonicReading",
      message: "reading 499 Wh is below the previous reading 500 Wh",
    });
    assert.equal(
      code(c.call("submitReading", { wh: 600 }, { caller: user("m1"), timeMs: at(1, 9) })),
      "ClockWentBack",
    );
    assert.equal(
      code(c.call("submitReading", { wh: 500 }, { caller: user("m1"), timeMs: at(1, 10) })),
      undefined,
    );
    assert.equal(code(c.call("myBill", {}, { caller: user("m2") })), "UnknownMeter");
    assert.equal(code(c.call("billOf", { meter: "m1" }, { caller: user("m2") })), "Forbidden");
    const audit = c.call("billOf", { meter: "m1" }, operator);
    assert.equal(audit.ok && (audit.result as { readings: number }).readings, 2);
    assert.equal(code(c.call("submitReading", { wh: -1 }, { caller: user("m1") })), "InvalidArgs");
    assert.equal(code(c.call("submitReading", { wh: 1 }, operator)), "Forbidden");
  });

  it("refuses malformed tariffs and tariffs set by users", () => {
    const c = testContract(meter, { name: "meter" });
    const cases: Array<[unknown, string]> = [
      [[], "InvalidTariff"],
      [[{ startHour: 1, centsPerKwh: 10 }], "InvalidTariff"],
      [
        [
          { startHour: 0, centsPerKwh: 10 },
          { startHour: 5, centsPerKwh: 1 },
          { startHour: 5, centsPerKwh: 2 },
        ],
        "InvalidTariff",
      ],
      [[{ startHour: 24, centsPerKwh: 10 }], "InvalidArgs"],
      [[{ startHour: 0, centsPerKwh: -1 }], "InvalidArgs"],
      [[{ startHour: 0 }], "InvalidArgs"],
    ];
    for (const [value, expected] of cases) {
      assert.equal(
        code(c.callJson("setTariff", JSON.stringify({ bands: value }), operator)),
        expected,
        JSON.stringify(value),
      );
    }
    assert.equal(code(c.call("setTariff", { bands }, { caller: user("u") })), "Forbidden");
    assert.equal(code(c.call("tariff")), "NoTariff");
  });

  it("bills the sum of deltas times the band price, over random reading sequences", () => {
    const reading = fc.record({
      addWh: fc.integer({ min: 0, max: 5000 }),
      afterMs: fc.integer({ min: 0, max: 9 * HOUR }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(reading, { maxLength: 25 }),
        (startWh, readings) => {
          const c = testContract(meter, { name: "meter" });
          c.call("setTariff", { bands }, operator);
          let timeMs = at(2, 0);
          let wh = startWh;
          let expected = 0;
          assert.ok(c.call("submitReading", { wh }, { caller: user("m"), timeMs }).ok);
          for (const { addWh, afterMs } of readings) {
            timeMs += afterMs;
            wh += addWh;
            expected += addWh * priceAt(timeMs);
            assert.ok(c.call("submitReading", { wh }, { caller: user("m"), timeMs }).ok);
          }
          const bill = c.call("myBill", {}, { caller: user("m") });
          assert.ok(bill.ok);
          assert.equal((bill.result as { costMillicents: number }).costMillicents, expected);
          assert.equal((bill.result as { billedWh: number }).billedWh, wh - startWh);
        },
      ),
      { numRuns: 100 },
    );
  });
});
