import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_LABEL_SETS, MetricsRegistry } from "../../node/metrics.js";

describe("metrics registry", () => {
  it("renders counters, gauges, labelled families and histograms in the Prometheus text format", () => {
    const registry = new MetricsRegistry();
    const calls = registry.counter("t_calls_total", "Calls");
    calls.inc({ code: "ok" });
    calls.inc({ code: 'we"ird' }, 2);
    registry.gauge("t_view", "View", () => 7);
    registry.family("t_dropped_total", "Dropped", "counter", "reason", () => ({
      replay: 3,
      badSignature: 1,
    }));
    const latency = registry.histogram("t_seconds", "Latency", [0.1, 1]);
    latency.observe(0.05);
    latency.observe(0.5);
    const text = registry.render();
    for (const line of [
      "# TYPE t_calls_total counter",
      't_calls_total{code="ok"} 1',
      't_calls_total{code="we\\"ird"} 2',
      "t_view 7",
      't_dropped_total{reason="badSignature"} 1',
      't_dropped_total{reason="replay"} 3',
      't_seconds_bucket{le="0.1"} 1',
      't_seconds_bucket{le="1"} 2',
      't_seconds_bucket{le="+Inf"} 2',
      "t_seconds_count 2",
    ]) {
      assert.ok(text.split("\n").includes(line), `missing line: ${line}\n${text}`);
    }
  });

  it("bounds a counter's label sets: values past the bound count under _other", () => {
    const calls = new MetricsRegistry().counter("t_codes_total", "Codes");
    for (let i = 0; i < MAX_LABEL_SETS * 4; i++) calls.inc({ code: `ContractCode${i}` });
    assert.equal(calls.size, MAX_LABEL_SETS);
    assert.equal(calls.get({ code: "ContractCode0" }), 1);
    assert.equal(calls.get({ code: "_other" }), MAX_LABEL_SETS * 4 - (MAX_LABEL_SETS - 1));
    calls.inc({ code: "ContractCode1" });
    assert.equal(calls.get({ code: "ContractCode1" }), 2, "known label sets keep counting");
  });

  it("a bound incrementer counts as inc does, past the bound too, whatever happens to its labels", () => {
    const calls = new MetricsRegistry().counter("t_bound_total", "Bound");
    const labels = { code: "ok" };
    const ok = calls.bind(labels);
    ok();
    ok();
    calls.inc({ code: "ok" });
    labels.code = "changed"; // read at bind time
    ok();
    assert.equal(calls.get({ code: "ok" }), 4);
    assert.equal(calls.get({ code: "changed" }), 0);
    const full = new MetricsRegistry().counter("t_full_total", "Full");
    const late = full.bind({ code: "late" });
    for (let i = 0; i < MAX_LABEL_SETS * 2; i++) full.inc({ code: `C${i}` });
    late();
    assert.equal(full.get({ code: "late" }), 0, "past the bound: counted under _other");
    assert.equal(full.get({ code: "_other" }), MAX_LABEL_SETS * 2 - (MAX_LABEL_SETS - 1) + 1);
  });
});
