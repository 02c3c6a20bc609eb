// The admin dashboard: users, devices, recent alerts, the chat inbox.

import { api, ApiError, get, query } from "./api.js";
import { alertRow } from "./alerts.js";
import { $, $$, clearErrors, debounce, h, kwh, showErrors, toast } from "./dom.js";
import { chatEnabled, request } from "./live.js";
import { me, startPage } from "./page.js";

const PAGE = 20;
const users = new Map(); // id -> user, everyone seen so far (owner names, picker)
const state = { userOffset: 0, deviceOffset: 0, deviceOwner: null };
let socket = null;

// ---- tabs ------------------------------------------------------------------------------

function showTab(name) {
  const tabs = ["users", "devices", "alerts", "chat"];
  if (!tabs.includes(name)) name = "users";
  for (const t of tabs) {
    $(`#tab-${t}`).hidden = t !== name;
    const link = $(`.tabs [data-tab="${t}"]`);
    link.setAttribute("aria-selected", t === name ? "true" : "false");
    link.classList.toggle("active", t === name);
  }
  if (name === "chat") inbox.show();
}

// ---- dialogs ---------------------------------------------------------------------------

// Open a dialog whose form is handled by `submit(form)`; it closes when submit succeeds.
function openDialog(dialog, { mode, fill, submit }) {
  const form = $("form", dialog);
  clearErrors(form);
  form.reset();
  for (const el of $$("[data-only]", form)) el.hidden = el.dataset.only !== mode;
  fill?.(form);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      await submit(form);
      dialog.close();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  };
  for (const b of $$("[data-close]", dialog)) b.onclick = () => dialog.close();
  dialog.showModal();
}

function confirmDelete(text, action) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  openDialog(dialog, { mode: "confirm", submit: action });
}

// ---- users -----------------------------------------------------------------------------

function userLabel(id) {
  const u = users.get(id);
  return u ? `${u.name} (${u.email})` : `User ${id}`;
}

let usersRequest = 0;

async function loadUsers() {
  // The newest search wins, whatever order the answers come back in.
  const ticket = ++usersRequest;
  const q = $("#user-search").value.trim();
  const page = await get(`/api/v1/users${query({ q, limit: PAGE, offset: state.userOffset })}`);
  if (ticket !== usersRequest) return;
  for (const u of page.items) users.set(u.id, u);
  $("#users-table tbody").replaceChildren(
    ...page.items.map((u) =>
      h(
        "tr",
        { dataset: { userId: String(u.id) }, class: u.disabled ? "disabled" : "" },
        h("td", {}, h("strong", {}, u.name)),
        h("td", { class: "email" }, u.email),
        h("td", {}, h("span", { class: `pill ${u.role === "admin" ? "accent" : ""}` }, u.role === "admin" ? "Admin" : "User")),
        h("td", {}, u.disabled ? h("span", { class: "pill muted-pill" }, "Disabled") : h("span", { class: "pill ok" }, "Active")),
        h(
          "td",
          { class: "row-actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => showUserDevices(u) }, "Devices"),
          h("button", { type: "button", class: "secondary small", onclick: () => editUser(u) }, "Edit"),
          u.id === me.id
            ? null
            : h("button", { type: "button", class: "danger-link small", onclick: () => deleteUser(u) }, "Delete"),
        ),
      ),
    ),
  );
  $("#users-empty").hidden = page.items.length > 0;
  pager($("#users-pager"), page, state.userOffset, (o) => {
    state.userOffset = o;
    loadUsers();
  });
}

function pager(box, page, offset, go) {
  box.replaceChildren();
  if (page.total <= PAGE) return;
  box.append(
    h("button", { type: "button", class: "secondary small", disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "Previous"),
    h("span", { class: "muted small" }, `${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}`),
    h("button", { type: "button", class: "secondary small", disabled: offset + PAGE >= page.total, onclick: () => go(offset + PAGE) }, "Next"),
  );
}

function userForm(form) {
  const v = (name) => form.elements.namedItem(name);
  return {
    name: v("name").value.trim(),
    email: v("email").value.trim(),
    role: v("role").value,
    disabled: v("disabled").checked,
    password: v("password").value,
  };
}

function newUser() {
  openDialog($("#user-dialog"), {
    mode: "create",
    fill: () => ($("#user-dialog-title").textContent = "New user"),
    submit: async (form) => {
      const body = userForm(form);
      const user = await api("POST", "/api/v1/users", body);
      toast(`${user.name} created`, "success");
      await loadUsers();
    },
  });
}

function editUser(u) {
  openDialog($("#user-dialog"), {
    mode: "edit",
    fill: (form) => {
      $("#user-dialog-title").textContent = `Edit ${u.name}`;
      form.elements.namedItem("name").value = u.name;
      form.elements.namedItem("email").value = u.email;
      form.elements.namedItem("role").value = u.role;
      form.elements.namedItem("disabled").checked = u.disabled;
    },
    submit: async (form) => {
      const all = userForm(form);
      const changes = {};
      for (const key of ["name", "email", "role", "disabled"]) {
        if (all[key] !== u[key]) changes[key] = all[key];
      }
      if (Object.keys(changes).length) {
        const user = await api("PATCH", `/api/v1/users/${u.id}`, changes);
        users.set(user.id, user);
        toast(`${user.name} saved`, "success");
      }
      await loadUsers();
    },
  });
}

function deleteUser(u) {
  confirmDelete(`Delete ${u.name} (${u.email})? Their devices stay, as orphans.`, async () => {
    await api("DELETE", `/api/v1/users/${u.id}`);
    toast(`${u.name} deleted`, "success");
    users.delete(u.id);
    await Promise.all([loadUsers(), loadDevices()]);
  });
}

async function showUserDevices(u) {
  const page = await get(`/api/v1/devices${query({ owner_id: u.id, limit: 100 })}`);
  $("#user-devices").hidden = false;
  $("#user-devices-title").textContent = `${u.name}'s devices (${page.total})`;
  $("#user-devices-list").replaceChildren(
    ...(page.items.length
      ? page.items.map((d) =>
          h("li", {}, h("strong", {}, d.description), h("span", { class: "muted" }, ` · ${d.address || "no address"} · max ${kwh(d.max_hourly_kwh)}`)),
        )
      : [h("li", { class: "muted" }, "No devices.")]),
  );
  $("#user-devices").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

// ---- devices ---------------------------------------------------------------------------

async function ownerNames(devices) {
  const missing = [...new Set(devices.map((d) => d.owner_id).filter((id) => id && !users.has(id)))];
  await Promise.all(
    missing.map((id) => get(`/api/v1/users/${id}`).then((u) => users.set(u.id, u), () => {})),
  );
}

let devicesRequest = 0;

async function loadDevices() {
  const ticket = ++devicesRequest;
  const orphans = $("#orphans-only").checked;
  const page = await get(
    `/api/v1/devices${query({ orphans: orphans ? "true" : "", limit: PAGE, offset: state.deviceOffset })}`,
  );
  await ownerNames(page.items);
  if (ticket !== devicesRequest) return;
  $("#devices-table tbody").replaceChildren(
    ...page.items.map((d) =>
      h(
        "tr",
        { dataset: { deviceId: String(d.id) } },
        h("td", { class: "num", "data-label": "Device" }, String(d.id)),
        h("td", {}, h("strong", {}, d.description)),
        h("td", { class: "muted" }, d.address || "–"),
        h("td", { class: "num", "data-label": "Max kWh/h" }, String(d.max_hourly_kwh)),
        h("td", { class: "owner" }, d.owner_id ? userLabel(d.owner_id) : h("span", { class: "pill warn" }, "Orphan")),
        h(
          "td",
          { class: "row-actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => editDevice(d) }, "Edit"),
          d.owner_id
            ? h("button", { type: "button", class: "secondary small", onclick: () => unassign(d) }, "Unassign")
            : h("button", { type: "button", class: "secondary small", onclick: () => assign(d) }, "Assign"),
          h("button", { type: "button", class: "danger-link small", onclick: () => deleteDevice(d) }, "Delete"),
        ),
      ),
    ),
  );
  $("#devices-empty").hidden = page.items.length > 0;
  pager($("#devices-pager"), page, state.deviceOffset, (o) => {
    state.deviceOffset = o;
    loadDevices();
  });
}

function deviceForm(form, create) {
  const v = (name) => form.elements.namedItem(name).value;
  const limit = v("max_hourly_kwh").trim();
  const body = {
    description: v("description").trim(),
    address: v("address").trim(),
    // A number, or what was typed, so the API names the field when it is not one.
    max_hourly_kwh: limit !== "" && Number.isFinite(Number(limit)) ? Number(limit) : limit,
  };
  if (create) body.meter_kind = v("meter_kind");
  return body;
}

function newDevice() {
  openDialog($("#device-dialog"), {
    mode: "create",
    fill: () => ($("#device-dialog-title").textContent = "New device"),
    submit: async (form) => {
      const device = await api("POST", "/api/v1/devices", deviceForm(form, true));
      toast(`${device.description} created`, "success");
      await loadDevices();
    },
  });
}

function editDevice(d) {
  openDialog($("#device-dialog"), {
    mode: "edit",
    fill: (form) => {
      $("#device-dialog-title").textContent = `Edit device ${d.id}`;
      form.elements.namedItem("description").value = d.description;
      form.elements.namedItem("address").value = d.address;
      form.elements.namedItem("max_hourly_kwh").value = String(d.max_hourly_kwh);
    },
    submit: async (form) => {
      const all = deviceForm(form, false);
      const changes = {};
      for (const key of Object.keys(all)) if (all[key] !== d[key]) changes[key] = all[key];
      if (Object.keys(changes).length) {
        await api("PATCH", `/api/v1/devices/${d.id}`, changes);
        toast(`Device ${d.id} saved`, "success");
      }
      await loadDevices();
    },
  });
}

function deleteDevice(d) {
  confirmDelete(`Delete device ${d.id}, ${d.description}? Its readings go with it.`, async () => {
    await api("DELETE", `/api/v1/devices/${d.id}`);
    toast(`Device ${d.id} deleted`, "success");
    await loadDevices();
  });
}

async function unassign(d) {
  try {
    await api("DELETE", `/api/v1/devices/${d.id}/owner`);
    toast(`${d.description} unassigned`, "success");
    await loadDevices();
  } catch (err) {
    toast(err.message, "error");
  }
}

function assign(d) {
  const dialog = $("#assign-dialog");
  // Answers may come back out of order: only the newest search fills the list.
  let searches = 0;
  const fillPicker = async (form, q = "") => {
    const search = ++searches;
    const page = await get(`/api/v1/users${query({ q, limit: 100 })}`);
    if (search !== searches) return;
    const select = form.elements.namedItem("user_id");
    select.replaceChildren(
      ...page.items.map((u) => {
        users.set(u.id, u);
        return h("option", { value: String(u.id) }, `${u.name} — ${u.email}${u.disabled ? " (disabled)" : ""}`);
      }),
    );
    if (page.items.length === 1) select.value = String(page.items[0].id);
  };
  openDialog(dialog, {
    mode: "assign",
    fill: (form) => {
      $("#assign-dialog-title").textContent = `Assign ${d.description}`;
      fillPicker(form);
      form.elements.namedItem("q").oninput = debounce((e) => fillPicker(form, e.target.value.trim()), 250);
    },
    submit: async (form) => {
      const value = form.elements.namedItem("user_id").value;
      if (!value) throw new ApiError(422, { detail: "Pick a user", errors: [{ field: "user_id", detail: "Pick a user" }] });
      const device = await api("PUT", `/api/v1/devices/${d.id}/owner`, {
        user_id: Number(value),
        include_history: form.elements.namedItem("include_history").checked,
      });
      toast(`${device.description} assigned to ${userLabel(device.owner_id)}`, "success");
      await loadDevices();
    },
  });
}

// ---- alerts ----------------------------------------------------------------------------

async function loadAlerts() {
  const [page, devices] = await Promise.all([
    get("/api/v1/alerts?limit=20"),
    get("/api/v1/devices?limit=100"),
  ]);
  const names = new Map(devices.items.map((d) => [d.id, d.description]));
  $("#admin-alerts-table tbody").replaceChildren(
    ...page.items.map((a) => alertRow({ ...a, device_description: names.get(a.device_id) }, { ack: false })),
  );
  $("#admin-alerts-empty").hidden = page.items.length > 0;
}

// ---- chat inbox ------------------------------------------------------------------------

const inbox = {
  view: null,
  conversations: new Map(), // user id -> {id, name, email, unread, last}
  current: null,
  started: false,

  badge() {
    let total = 0;
    for (const c of this.conversations.values()) total += c.unread;
    const b = $("#inbox-badge");
    b.textContent = String(total);
    b.hidden = total === 0;
  },

  render() {
    const list = $("#conversations");
    const sorted = [...this.conversations.values()].sort((a, b) => (b.lastId || 0) - (a.lastId || 0));
    list.replaceChildren(
      ...sorted.map((c) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "conversation",
              "aria-current": this.current === c.id ? "true" : "false",
              dataset: { userId: String(c.id) },
              onclick: () => this.open(c.id),
            },
            h("span", { class: "conv-name" }, c.name),
            c.unread ? h("span", { class: "badge" }, String(c.unread)) : null,
            h("span", { class: "conv-last muted small" }, c.last || ""),
          ),
        ),
      ),
    );
    $("#conversations-empty").hidden = sorted.length > 0;
    this.badge();
  },

  upsert(raw) {
    const id = Number(raw.user_id ?? raw.conversation_id ?? raw.id);
    const old = this.conversations.get(id) || { id, unread: 0 };
    const last = raw.latest || raw.last_message || null;
    const c = {
      ...old,
      name: raw.user_name || raw.name || raw.user?.name || raw.user_email || raw.email || old.name || `User ${id}`,
      unread: Number(raw.unread ?? raw.unread_count ?? old.unread ?? 0),
      last: last ? last.text : old.last,
      lastId: last ? last.id : old.lastId,
    };
    this.conversations.set(id, c);
    return c;
  },

  async start() {
    if (this.started || !socket) return;
    this.started = true;
    const res = await request(socket, "chat_conversations", {});
    if (!res.ok) {
      $("#chat-unavailable").hidden = false;
      return;
    }
    for (const c of res.conversations || []) this.upsert(c);
    this.render();
    const { ChatView } = await import("./chat.js");
    this.view = new ChatView($("#admin-chat"), socket, {
      me,
      isOpen: () => !$("#tab-chat").hidden && document.visibilityState === "visible",
      onIncoming: () => {},
    });
    socket.on("chat_message", ({ conversation_id, message }) => {
      const c = this.conversations.get(conversation_id) || this.upsert({ user_id: conversation_id, user_name: message.sender_role === "user" ? message.sender_name : undefined });
      c.last = message.text;
      c.lastId = message.id;
      const fromUser = message.sender_id === conversation_id;
      const looking = this.current === conversation_id && !$("#tab-chat").hidden && document.visibilityState === "visible";
      if (fromUser && !looking) {
        c.unread += 1;
        toast(`New message from ${message.sender_name || c.name}`, "info");
      }
      this.render();
    });
  },

  show() {
    if (!this.current) return;
    const c = this.conversations.get(this.current);
    if (c) c.unread = 0;
    this.render();
    this.view?.markRead();
  },

  async open(id) {
    this.current = id;
    const c = this.conversations.get(id);
    c.unread = 0;
    this.render();
    $("#thread-empty").hidden = true;
    $("#admin-chat").hidden = false;
    await this.view.switchTo(id, c.name);
  },
};

// ---- start -----------------------------------------------------------------------------

async function main() {
  $("#new-user").addEventListener("click", newUser);
  $("#new-device").addEventListener("click", newDevice);
  $("#user-search").addEventListener("input", debounce(() => { state.userOffset = 0; loadUsers(); }, 250));
  $("#orphans-only").addEventListener("change", () => { state.deviceOffset = 0; loadDevices(); });
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  showTab(location.hash.slice(1));
  await Promise.all([loadUsers(), loadDevices(), loadAlerts()]);
  socket = await startPage({ onAlert: () => loadAlerts() });
  if (!socket) {
    $("#chat-unavailable").hidden = false;
    return;
  }
  const refresh = debounce(() => loadDevices(), 300);
  socket.on("device_assigned", refresh);
  socket.on("device_unassigned", refresh);
  if (chatEnabled()) await inbox.start();
  else $("#chat-unavailable").hidden = false;
}

main().catch((err) => {
  console.error(err);
  toast(`Could not load the dashboard: ${err.message}`, "error", 10000);
});
