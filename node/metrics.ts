/**
 * Prometheus metrics (text exposition format 0.0.4), with no dependency: counters, gauges and
 * fixed-bucket histograms, each with optional labels. `/node/metrics` renders the registry.
 */

type Labels = Readonly<Record<string, string>>;

/** A label value that needs no escaping (the usual case: codes, stage names). */
const PLAIN_LABEL_VALUE = /^[A-Za-z0-9_.:-]*$/;

function labelText(labels: Labels): string {
  // One label with a plain value (a call's outcome code, counted per request): no sort, no escapes.
  let only: string | undefined;
  let count = 0;
  for (const k in labels) {
    only = k;
    if (++count > 1) break;
  }
  if (count === 0) return "";
  if (count === 1 && PLAIN_LABEL_VALUE.test(labels[only!]!)) return `{${only}="${labels[only!]}"}`;
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

interface Metric {
  render(): string;
}

/**
 * Most label sets one counter keeps. Label values can come from outside (a contract chooses its
 * error codes), so past this bound new label sets are counted together under every label
 * valued `_other` instead of growing the map per distinct value.
 */
export const MAX_LABEL_SETS = 256;

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    this.#add(labelText(labels), labels, by);
  }

  /**
   * An incrementer of the label set `labels` (read now), for a counter bumped on a hot path:
   * its label text is built once, not per increment. Counts exactly as `inc(labels)`.
   */
  bind(labels: Labels): () => void {
    const key = labelText(labels);
    const copy = { ...labels };
    return () => this.#add(key, copy, 1);
  }

  #add(key: string, labels: Labels, by: number): void {
    const value = this.values.get(key);
    if (value !== undefined) {
      this.values.set(key, value + by);
      return;
    }
    if (this.values.size >= MAX_LABEL_SETS - 1)
      key = labelText(Object.fromEntries(Object.keys(labels).map((k) => [k, "_other"])));
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** Label sets held (at most MAX_LABEL_SETS). */
  get size(): number {
    return this.values.size;
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`);
    return lines.join("\n");
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} gauge`,
      `${this.name} ${this.read()}`,
    ].join("\n");
  }
}

export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending. */
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]! += 1;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((le, i) => {
      lines.push(`${this.name}_bucket{le="${le}"} ${this.counts[i]}`);
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join("\n");
  }
}

/** A labelled family whose values are read when rendered (e.g. counters kept by other modules). */
export class Family implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    readonly label: string,
    private readonly read: () => Readonly<Record<string, number>>,
  ) {}

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    const values = this.read();
    for (const key of Object.keys(values).sort())
      lines.push(`${this.name}${labelText({ [this.label]: key })} ${values[key]}`);
    return lines.join("\n");
  }
}

/** A set of metrics rendered together. */
export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  gauge(name: string, help: string, read: () => number): Gauge {
    return this.add(new Gauge(name, help, read));
  }

  family(
    name: string,
    help: string,
    type: "counter" | "gauge",
    label: string,
    read: () => Readonly<Record<string, number>>,
  ): Family {
    return this.add(new Family(name, help, type, label, read));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** A metric kept elsewhere that renders itself (its full exposition text, HELP and TYPE included). */
  rendered(render: () => string): void {
    this.add({ render });
  }

  render(): string {
    return `${this.metrics.map((m) => m.render()).join("\n")}\n`;
  }

  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}
