// The user page: my devices, one device's day as a chart, live updates.

import { get, query } from "./api.js";
import { DayChart } from "./daychart.js";
import { $, debounce, h, hourLabel, hourRange, kwh, localDate, timeZone, toast } from "./dom.js";
import { request } from "./live.js";
import { startPage } from "./page.js";

const tz = timeZone();
const POLL_MS = 60_000;
const devices = new Map(); // id -> {device, today: Map(hourMs -> kwh), latest, item}
let selected = null;
let socket = null;
let chart = null;

const hourlyUrl = (id, date, csv = false) =>
  `/api/v1/devices/${id}/consumption/hourly${csv ? ".csv" : ""}${query({ date, tz })}`;

function today() {
  return localDate();
}

function todayTotal(entry) {
  if (!entry.today) return null;
  let sum = 0;
  let any = false;
  for (const v of entry.today.values()) {
    if (v !== null) {
      sum += v;
      any = true;
    }
  }
  return any ? Math.round(sum * 1e6) / 1e6 : null;
}

function renderItem(entry) {
  const d = entry.device;
  const total = todayTotal(entry);
  const figures =
    total === null && !entry.latest
      ? [h("span", { class: "muted", dataset: { role: "today" } }, entry.today ? "No readings today" : "Loading…")]
      : [
          h("span", { class: "today", dataset: { role: "today" } }, `Today ${kwh(total)}`),
          entry.latest
            ? h(
                "span",
                { class: "latest muted", dataset: { role: "latest" } },
                `Last reading ${kwh(entry.latest.consumption_kwh ?? entry.latest.value_kwh, 6)} at ${hourLabel(entry.latest.ts)}`,
              )
            : null,
        ];
  const button = h(
    "button",
    {
      type: "button",
      class: "device-item",
      "aria-pressed": selected === d.id ? "true" : "false",
      onclick: () => select(d.id),
    },
    h("span", { class: "device-name" }, d.description),
    h("span", { class: "device-address muted" }, d.address || "No address"),
    h("span", { class: "device-figures" }, ...figures),
  );
  const li = h("li", { dataset: { deviceId: String(d.id) } }, button);
  if (entry.item) entry.item.replaceWith(li);
  entry.item = li;
  return li;
}

function renderList() {
  const list = $("#device-list");
  const sorted = [...devices.values()].sort((a, b) =>
    a.device.description.localeCompare(b.device.description),
  );
  list.replaceChildren(...sorted.map((e) => e.item || renderItem(e)));
  showEmpty();
}

function showEmpty() {
  $("#devices-empty").hidden = devices.size > 0;
  $("#device-detail").hidden = devices.size === 0;
}

async function loadSummary(entry) {
  const id = entry.device.id;
  try {
    const day = await get(hourlyUrl(id, today()));
    entry.today = new Map(day.hours.map((x) => [Date.parse(x.start), x.kwh]));
    const lastHour = [...day.hours].reverse().find((x) => x.readings > 0);
    if (lastHour) {
      const from = new Date(Date.parse(lastHour.start)).toISOString().replace(".000", "");
      const to = new Date(Date.parse(lastHour.start) + 3600_000).toISOString().replace(".000", "");
      let after;
      let last = null;
      for (let page = 0; page < 50; page++) {
        const res = await get(`/api/v1/devices/${id}/readings${query({ from, to, limit: 100, after })}`);
        if (res.items.length) last = res.items[res.items.length - 1];
        if (res.next_after === null) break;
        after = res.next_after;
      }
      if (last && (!entry.latest || Date.parse(last.ts) >= Date.parse(entry.latest.ts))) entry.latest = last;
    }
  } catch (err) {
    console.warn("summary of device", id, err);
  }
  if (devices.get(id) === entry) renderItem(entry);
}

function addDevice(device) {
  const existing = devices.get(device.id);
  if (existing) {
    existing.device = device;
    renderItem(existing);
    return existing;
  }
  const entry = { device, today: null, latest: null, item: null };
  devices.set(device.id, entry);
  renderItem(entry);
  loadSummary(entry);
  if (socket?.connected) request(socket, "subscribe_device", { device_id: device.id });
  return entry;
}

function removeDevice(id) {
  const entry = devices.get(id);
  if (!entry) return;
  devices.delete(id);
  entry.item?.remove();
  showEmpty();
  if (socket?.connected) request(socket, "unsubscribe_device", { device_id: id });
  if (selected === id) {
    selected = null;
    $("#detail-body").hidden = true;
    $("#detail-empty").hidden = false;
  }
}

function showFacts(d) {
  $("#d-description").textContent = d.description;
  $("#d-address").textContent = d.address || "No address";
  $("#d-id").textContent = String(d.id);
  $("#d-limit").textContent = kwh(d.max_hourly_kwh);
  $("#d-kind").textContent = d.meter_kind === "cumulative" ? "Cumulative" : "Interval";
}

function showStats() {
  const t = chart.totals();
  $("#s-total").textContent = kwh(t.total);
  $("#s-peak").replaceChildren(
    ...(t.peak ? [kwh(t.peak.kwh), h("small", { class: "stat-note" }, hourRange(t.peak.start))] : ["–"]),
  );
  $("#s-over").textContent = String(t.over);
  $("#s-over").classList.toggle("bad", t.over > 0);
}

let dayRequest = 0;

async function loadDay() {
  if (selected === null) return;
  // Only the newest request may draw: an older answer (another day or device) arriving
  // late must not replace the day the user picked last.
  const ticket = ++dayRequest;
  const id = selected;
  const date = $("#day").value || today();
  $("#csv-link").href = hourlyUrl(id, date, true);
  const day = await get(hourlyUrl(id, date));
  if (ticket !== dayRequest) return;
  chart.show(day);
  $("#chart").dataset.date = date;
  $("#chart").dataset.deviceId = String(id);
  showStats();
}

async function select(id) {
  selected = id;
  for (const e of devices.values()) {
    e.item?.querySelector("button").setAttribute("aria-pressed", e.device.id === id ? "true" : "false");
  }
  const entry = devices.get(id);
  showFacts(entry.device);
  $("#detail-empty").hidden = true;
  $("#detail-body").hidden = false;
  history.replaceState(null, "", `#device-${id}`);
  await loadDay();
}

// A reading tells us the hour grew; the exact total comes with `hourly` or, if that is late,
// from the API shortly after.
const refreshToday = debounce(() => {
  if (selected !== null && $("#day").value === today()) loadDay();
}, 1500);

function onHourly(p) {
  const entry = devices.get(p.device_id);
  if (!entry) return;
  if (entry.today) entry.today.set(Date.parse(p.hour), p.total_kwh);
  renderItem(entry);
  if (p.device_id === selected && $("#day").value === today()) {
    if (chart.setHour(p.hour, p.total_kwh, p.readings, p.over_limit)) showStats();
    else refreshToday();
  }
}

function onReading(p) {
  const entry = devices.get(p.device_id);
  if (!entry) return;
  if (!entry.latest || Date.parse(p.ts) >= Date.parse(entry.latest.ts)) entry.latest = p;
  renderItem(entry);
  if (p.device_id === selected) refreshToday();
}

async function main() {
  chart = new DayChart($("#chart"), $("#hours-table tbody"));
  const day = $("#day");
  day.value = today();
  day.max = today();
  $("#tz-note").textContent = `Hours in ${tz}`;
  day.addEventListener("change", () => loadDay());

  const page = await get("/api/v1/devices?limit=100");
  for (const d of page.items) addDevice(d);
  renderList();
  const wanted = Number((location.hash.match(/^#device-(\d+)$/) || [])[1]);
  const first = devices.has(wanted) ? wanted : [...devices.values()][0]?.device.id;
  if (first !== undefined) await select(first);

  socket = await startPage();
  if (!socket) {
    // Without live updates, look again now and then.
    setInterval(() => {
      for (const entry of devices.values()) loadSummary(entry);
      if (selected !== null && $("#day").value === today()) loadDay();
    }, POLL_MS);
    return;
  }
  const live = $("#live-state");
  const subscribeAll = () => {
    live.hidden = false;
    for (const id of devices.keys()) request(socket, "subscribe_device", { device_id: id });
    // Catch up on what happened while disconnected.
    if (selected !== null) loadDay();
  };
  socket.on("connect", subscribeAll);
  socket.on("disconnect", () => (live.hidden = true));
  if (socket.connected) subscribeAll();
  socket.on("reading", onReading);
  socket.on("hourly", onHourly);
  socket.on("device_assigned", ({ device }) => {
    if (devices.has(device.id)) return;
    addDevice(device);
    renderList();
    toast(`New device: ${device.description}`, "success");
    if (selected === null) select(device.id);
  });
  socket.on("device_unassigned", ({ device_id }) => removeDevice(device_id));
}

main().catch((err) => {
  console.error(err);
  toast(`Could not load your devices: ${err.message}`, "error", 10000);
});
