import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { LatencyWindow } from "./LatencyWindow";

/** How often the event loop's lag is sampled for its histogram. */
const LAG_SAMPLE_MS = 100;

/** The bridge's Prometheus metrics, on a registry of its own. */
export class Metrics {
  readonly registry = new Registry();
  /** Events that came from a platform (`direction="in"`) or went to one (`direction="out"`). */
  readonly events = new Counter({
    name: "clawbridge_events_total",
    help: "Bridged events by platform and direction (in: platform to Matrix, out: Matrix to platform)",
    labelNames: ["platform", "direction"] as const,
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: "clawbridge_delivery_failures_total",
    help: "Deliveries that failed for good after retries, by platform and direction",
    labelNames: ["platform", "direction"] as const,
    registers: [this.registry],
  });
  readonly quarantined = new Counter({
    name: "clawbridge_quarantined_total",
    help: "Events kept in the quarantine: refused by the database, or given up after retries (in: from a platform, out: from Matrix)",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "clawbridge_delivery_retries_total",
    help: "Delivery attempts that failed and were retried",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "clawbridge_queue_depth",
    help: "Deliveries waiting in the durable queue",
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "clawbridge_delivery_latency_seconds",
    help: "Time from an event being queued to its delivery, by direction",
    labelNames: ["direction"] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  readonly transactions = new Counter({
    name: "clawbridge_appservice_transactions_total",
    help: "Transactions received from the homeserver (duplicate: already processed)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  /** The last hour of delivery latency, per minute, for the web page's chart. */
  readonly recentLatency = new LatencyWindow();

  /** A finished delivery: the histogram and the last hour's window both count it. */
  observeDelivery(direction: "in" | "out", seconds: number): void {
    this.latency.observe({ direction }, seconds);
    this.recentLatency.observe(seconds);
  }

  /**
   * `defaults`: the process's own metrics too (CPU, memory, event-loop lag), only when they are
   * served. The lag is sampled every 100 ms: prom-client's default of 10 ms wakes an idle
   * bridge a hundred times a second, which cost it more CPU than everything else it does idle.
   */
  constructor(defaults = true) {
    if (defaults)
      collectDefaultMetrics({
        register: this.registry,
        prefix: "clawbridge_",
        eventLoopMonitoringPrecision: LAG_SAMPLE_MS,
      });
  }
}
