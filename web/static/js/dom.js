// Small DOM helpers. Text always goes in through textContent, never as HTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "hidden") el.hidden = true;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function clearErrors(form) {
  for (const el of $$(".field-error", form)) el.textContent = "";
  for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
  for (const el of $$(".field.invalid", form)) el.classList.remove("invalid");
  const general = $(".form-error", form);
  if (general) {
    general.textContent = "";
    general.hidden = true;
  }
}

// Show an API error: each field's message next to its input, the rest on top of the form.
export function showErrors(form, err) {
  clearErrors(form);
  let placed = false;
  for (const [name, message] of Object.entries(err.fields || {})) {
    const slot = $(`.field-error[data-for="${CSS.escape(name)}"]`, form);
    if (!slot) continue;
    slot.textContent = message;
    const input = form.elements.namedItem(name);
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    slot.closest(".field")?.classList.add("invalid");
    placed = true;
  }
  const general = $(".form-error", form);
  if (general && (!placed || !Object.keys(err.fields || {}).length)) {
    general.textContent = err.message;
    general.hidden = false;
  }
}

export function toast(text, kind = "info", ms = 5000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h("div", { class: `toast toast-${kind}`, role: "status" }, text);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

const trim = (n, digits) => Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, useGrouping: false });

export function kwh(value, digits = 3) {
  return value === null || value === undefined ? "–" : `${trim(value, digits)} kWh`;
}

export function exactKwh(value) {
  return value === null || value === undefined ? "no data" : `${trim(value, 6)} kWh`;
}

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// YYYY-MM-DD of now (or `date`) in the browser's time zone.
export function localDate(date = new Date()) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit",
  }).formatToParts(date);
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function hourLabel(iso) {
  return new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .format(new Date(iso));
}

export function hourRange(iso) {
  const start = new Date(iso);
  const end = new Date(start.getTime() + 3600_000);
  return `${hourLabel(start)}–${hourLabel(end)}`;
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat([], {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

export function dayLabel(iso) {
  return new Intl.DateTimeFormat([], { weekday: "short", day: "numeric", month: "short" })
    .format(new Date(iso));
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
