/** A small Prometheus text-format registry: counters and histograms with labels. */
type Labels = Record<string, string | number>;
/** Labels rendered once, as they appear between the braces: `method="GET",route="/healthz"`. */
export const labelKey = (l: Labels) =>
  Object.entries(l)
    .map(([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, "_")}"`)
    .join(",");

interface Cell {
  n: number;
}
/** Counts per bucket, each value in the first bucket that holds it: cumulated when rendered. */
export interface Series {
  buckets: number[];
  counts: number[];
  sum: number;
  n: number;
}

/** Adds one value to a histogram series: one bucket's count, whatever the number of buckets. */
export function observe(v: Series, value: number) {
  let i = 0;
  while (i < v.buckets.length && value > v.buckets[i]!) i++;
  if (i < v.counts.length) v.counts[i]! += 1;
  v.sum += value;
  v.n += 1;
}

export class Metrics {
  private counters = new Map<string, { help: string; values: Map<string, Cell> }>();
  private histograms = new Map<string, { help: string; buckets: number[]; values: Map<string, Series> }>();
  private gauges = new Map<string, { help: string; read: () => number }>();

  /**
   * A counter to add to by ready-made label keys: the per-request path builds no label objects.
   * `series(key)` is one label set's count, to keep and add to without any lookup.
   */
  counter(name: string, help: string) {
    const c = getOr(this.counters, name, () => ({ help, values: new Map<string, Cell>() }));
    const series = (key: string) => getOr(c.values, key, () => ({ n: 0 }));
    return {
      add(key: string, by: number) {
        series(key).n += by;
      },
      series,
    };
  }

  /** Like `counter`: `series(key)` is one label set's histogram, for `observe(series, value)`. */
  histogram(name: string, help: string, buckets = defaultBuckets) {
    const h = getOr(this.histograms, name, () => ({ help, buckets, values: new Map<string, Series>() }));
    const series = (key: string) =>
      getOr(h.values, key, () => ({ buckets: h.buckets, counts: h.buckets.map(() => 0), sum: 0, n: 0 }));
    return {
      observe(key: string, value: number) {
        observe(series(key), value);
      },
      series,
    };
  }

  inc(name: string, help: string, labels: Labels, by = 1) {
    this.counter(name, help).add(labelKey(labels), by);
  }

  observe(name: string, help: string, labels: Labels, value: number, buckets = defaultBuckets) {
    this.histogram(name, help, buckets).observe(labelKey(labels), value);
  }

  gauge(name: string, help: string, read: () => number) {
    this.gauges.set(name, { help, read });
  }

  render(): string {
    const out: string[] = [];
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [k, v] of c.values) out.push(`${name}{${k}} ${v.n}`);
    }
    for (const [name, h] of this.histograms) {
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const [k, v] of h.values) {
        const sep = k ? "," : "";
        let below = 0;
        h.buckets.forEach((b, i) => {
          below += v.counts[i]!;
          out.push(`${name}_bucket{${k}${sep}le="${b}"} ${below}`);
        });
        out.push(
          `${name}_bucket{${k}${sep}le="+Inf"} ${v.n}`,
          `${name}_sum{${k}} ${v.sum}`,
          `${name}_count{${k}} ${v.n}`,
        );
      }
    }
    for (const [name, g] of this.gauges)
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    return `${out.join("\n")}\n`;
  }
}

function getOr<K, V>(map: Map<K, V>, k: K, make: () => V): V {
  let v = map.get(k);
  if (v === undefined) {
    v = make();
    map.set(k, v);
  }
  return v;
}

const defaultBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
