// The alerts view: my devices' alerts (all devices' for admins), newest hour first; ack.

import { api, get, query } from "./api.js";
import { $, dateTime, h, hourRange, kwh, toast } from "./dom.js";
import { startPage } from "./page.js";

const PAGE = 20;
// The `after` cursor of each page shown so far, the current one last: "Older" follows the
// list's `next_after`, "Newer" goes back one.
let cursors = [null];
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
  const after = cursors.at(-1);
  const page = await get(`/api/v1/alerts${query({ limit: PAGE, after, unacknowledged: unack ? "true" : "" })}`);
  if (page.items.length === 0 && cursors.length > 1) {
    // The page emptied meanwhile (its alerts were withdrawn): show the one before it.
    cursors.pop();
    return load();
  }
  $("#alerts-table tbody").replaceChildren(...page.items.map((a) => alertRow(a, { onAck: acknowledge })));
  $("#alerts-empty").hidden = page.items.length > 0;
  $("#alerts-table").hidden = page.items.length === 0;
  const pager = $("#alerts-pager");
  pager.replaceChildren();
  if (cursors.length > 1 || page.next_after) {
    pager.append(
      h("button", { type: "button", class: "secondary small", disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, "Newer"),
      h("span", { class: "muted small" }, `Page ${cursors.length}`),
      h("button", { type: "button", class: "secondary small", disabled: !page.next_after, onclick: () => { cursors.push(page.next_after); load(); } }, "Older"),
    );
  }
}

async function main() {
  const devices = await get("/api/v1/devices?limit=100");
  for (const d of devices.items) names.set(d.id, d.description);
  $("#only-open").addEventListener("change", () => { cursors = [null]; load(); });
  await load();
  await startPage({ onAlert: () => { if (cursors.length === 1) load(); } });
}

if (document.getElementById("alerts-table") && !document.getElementById("tab-alerts")) {
  main().catch((err) => toast(`Could not load alerts: ${err.message}`, "error", 10000));
}
