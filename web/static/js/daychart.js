// The bar chart of one day's hourly consumption (Chart.js), mirrored in a table so the
// numbers are readable without the canvas (screen readers, tests, copying).

import { exactKwh, h, hourLabel, hourRange, kwh } from "./dom.js";

const BAR = "#2563eb";
const OVER = "#dc2626";
const LIMIT = "#b45309";

export class DayChart {
  constructor(canvas, tbody) {
    this.canvas = canvas;
    this.tbody = tbody;
    this.hours = [];
    this.limit = 0;
    this.chart = null;
  }

  // `hourly` is the API's answer: {limit_kwh, hours: [{start, kwh, readings, over_limit}]}.
  show(hourly) {
    this.limit = hourly.limit_kwh;
    this.hours = hourly.hours.map((hr) => ({
      start: hr.start,
      ms: Date.parse(hr.start),
      kwh: hr.kwh,
      readings: hr.readings,
      over: hr.over_limit,
    }));
    this.draw(true);
  }

  // A live update of one hour; false when that hour is not on this chart.
  setHour(hourIso, totalKwh, readings, over) {
    const ms = Date.parse(hourIso);
    const hr = this.hours.find((x) => x.ms === ms);
    if (!hr) return false;
    hr.kwh = totalKwh;
    if (readings !== undefined && readings !== null) hr.readings = readings;
    hr.over = over ?? totalKwh > this.limit;
    this.draw(false);
    return true;
  }

  setLimit(limitKwh) {
    this.limit = limitKwh;
    for (const hr of this.hours) hr.over = hr.kwh !== null && hr.kwh > limitKwh;
    this.draw(false);
  }

  totals() {
    const withData = this.hours.filter((x) => x.kwh !== null);
    const total = withData.reduce((sum, x) => sum + x.kwh, 0);
    const peak = withData.reduce((best, x) => (best && best.kwh >= x.kwh ? best : x), null);
    return {
      total: withData.length ? Math.round(total * 1e6) / 1e6 : null,
      peak,
      over: this.hours.filter((x) => x.over).length,
    };
  }

  draw(fresh) {
    const labels = this.hours.map((x) => hourLabel(x.start));
    const values = this.hours.map((x) => x.kwh);
    const colors = this.hours.map((x) => (x.over ? OVER : BAR));
    this.canvas.dataset.values = JSON.stringify(values);
    this.canvas.dataset.limit = String(this.limit);
    this.canvas.setAttribute(
      "aria-label",
      `Hourly consumption, ${values.filter((v) => v !== null).length} hours with data, limit ${kwh(this.limit)}`,
    );
    this.renderTable();
    const Chart = globalThis.Chart;
    if (!Chart) return;
    if (this.chart && !fresh) {
      const [bars, line] = this.chart.data.datasets;
      this.chart.data.labels = labels;
      bars.data = values;
      bars.backgroundColor = colors;
      line.data = labels.map(() => this.limit);
      this.chart.update();
      return;
    }
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, {
      data: {
        labels,
        datasets: [
          {
            type: "bar",
            label: "Consumption",
            data: values,
            backgroundColor: colors,
            borderRadius: 3,
            maxBarThickness: 28,
            order: 2,
          },
          {
            type: "line",
            label: "Limit",
            data: labels.map(() => this.limit),
            borderColor: LIMIT,
            borderWidth: 2,
            borderDash: [6, 4],
            pointRadius: 0,
            pointHoverRadius: 0,
            fill: false,
            order: 1,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? hourRange(this.hours[items[0].dataIndex].start) : ""),
              label: (ctx) =>
                ctx.dataset.type === "line"
                  ? ` Limit: ${exactKwh(this.limit)}`
                  : ` ${exactKwh(ctx.raw)}${this.hours[ctx.dataIndex].over ? " — over the limit" : ""}`,
            },
          },
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 8 } },
          y: {
            beginAtZero: true,
            suggestedMax: this.limit * 1.15,
            title: { display: true, text: "kWh" },
            grid: { color: "#e5e7eb" },
          },
        },
      },
    });
  }

  renderTable() {
    const rows = this.hours.map((x) =>
      h(
        "tr",
        {
          class: x.over ? "over" : "",
          dataset: { start: x.start, kwh: x.kwh === null ? "" : String(x.kwh), over: String(x.over) },
        },
        h("td", {}, hourRange(x.start)),
        h("td", { class: "num" }, x.kwh === null ? "–" : String(x.kwh)),
        h("td", { class: "num" }, String(x.readings)),
        h("td", {}, x.over ? "Over" : ""),
      ),
    );
    this.tbody.replaceChildren(...rows);
  }
}
