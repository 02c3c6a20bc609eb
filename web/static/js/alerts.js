// The alerts view: my devices' alerts (all devices' for admins), newest hour first; ack.

import { api, get, query } from "./api.js";
import { $, dateTime, h, hourRange, kwh, toast } from "./dom.js";
import { startPage } from "./page.js";

const PAGE = 20;
let offset = 0;
const names = new Map();

export function alertRow(a, { ack = true, onAck } = {}) {
  const name = a.device_description || names.get(a.device_id) || `Device ${a.device_id}`;
  const used = a.kind === "peak_power" ? kwh(a.power_kw).replace("kWh", "kW") : kwh(a.total_kwh);
  const hour = a.hour_start || a.hour;
  const status = a.acknowledged_at
    ? h("span", { class: "pill ok" }, "Acknowledged")
    : h("span", { class: "pill warn" }, a.late ? "New · late" : "New");
  const cells = [
    h("td", {}, h("strong", {}, name), a.kind === "peak_power" ? h("span", { class: "muted small" }, " peak power") : null),
    h("td", {}, `${dateTime(hour).split(",")[0]}, ${hourRange(hour)}`),
    h("td", { class: "num" }, used),
    h("td", { class: "num" }, kwh(a.limit_kwh)),
    h("td", {}, status),
  ];
  if (ack) {
    cells.push(
      h("td", { class: "row-actions" },
        a.acknowledged_at
          ? null
          : h("button", { type: "button", class: "secondary small", onclick: () => onAck?.(a) }, "Acknowledge"),
      ),
    );
  }
  return h("tr", { dataset: { alertId: String(a.id) }, class: a.acknowledged_at ? "" : "unseen" }, ...cells);
}

async function acknowledge(a) {
  try {
    await api("POST", `/api/v1/alerts/${a.id}/ack`);
    await load();
  } catch (err) {
    toast(err.message, "error");
  }
}

async function load() {
  const unack = $("#only-open").checked;
  const page = await get(`/api/v1/alerts${query({ limit: PAGE, offset, unacknowledged: unack ? "true" : "" })}`);
  $("#alerts-table tbody").replaceChildren(...page.items.map((a) => alertRow(a, { onAck: acknowledge })));
  $("#alerts-empty").hidden = page.items.length > 0;
  $("#alerts-table").hidden = page.items.length === 0;
  const pager = $("#alerts-pager");
  pager.replaceChildren();
  if (page.total > PAGE) {
    pager.append(
      h("button", { type: "button", class: "secondary small", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "Newer"),
      h("span", { class: "muted small" }, `${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}`),
      h("button", { type: "button", class: "secondary small", disabled: offset + PAGE >= page.total, onclick: () => { offset += PAGE; load(); } }, "Older"),
    );
  }
}

async function main() {
  const devices = await get("/api/v1/devices?limit=100");
  for (const d of devices.items) names.set(d.id, d.description);
  $("#only-open").addEventListener("change", () => { offset = 0; load(); });
  await load();
  await startPage({ onAlert: () => { if (offset === 0) load(); } });
}

if (document.getElementById("alerts-table") && !document.getElementById("tab-alerts")) {
  main().catch((err) => toast(`Could not load alerts: ${err.message}`, "error", 10000));
}
